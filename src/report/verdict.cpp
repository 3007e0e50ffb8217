// The verdict: what limits a finished run, decided from what was measured, and the same in words.
//
// The order of the questions is the order in which one limit hides another:
//   1. Were the machine's processors all busy? Then the machine is the limit, or other processes are when they took a
//      large part of it, or one stage is when it did most of the work. A stage whose input was full while it was
//      idle waited for a processor: it is named as starved by the stage that did most of the work, never as the limit.
//   2. Otherwise, per input: did a live input stall or lose its signal for a large part of the run? Then the input.
//   3. Were frames lost at an edge (overflow, maximum age)? Then the stage behind that edge could not keep up.
//   4. Was a stage busy most of the time it may use (its workers)? Then that stage: the decoder, a writer waiting on
//      its disk or encoder, or a stage's own work. With branches, the branch it is on.
//   5. Otherwise a live input sets the pace (nothing limits), and a file's reading does.
#include "verdict_text.hpp"

#include <framepipe/report.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>

namespace framepipe {
namespace {

constexpr double kSaturated = 0.85;     // share of the processors busy for the machine to be the limit
constexpr double kOthers = 0.25;        // share of the processors other processes must take to be the limit
constexpr double kDominant = 0.6;       // share of the stages' work one stage must do to be named on a full machine
constexpr double kBusyFile = 0.6;       // busy share of its workers for a stage to limit a file input
constexpr double kBusyLive = 0.9;       // ... a live input (below it, the stage keeps up with the source)
constexpr double kStalled = 0.15;       // share of a live input's time without frames for the input to be the limit
constexpr double kStarved = 0.3;        // a stage busier than this is not waiting for a processor

constexpr std::array kLimitNames = {
    std::pair{LimitKind::source_pace, "source_pace"}, std::pair{LimitKind::stage, "stage"},
    std::pair{LimitKind::decoder, "decoder"},         std::pair{LimitKind::writer, "writer"},
    std::pair{LimitKind::input, "input"},             std::pair{LimitKind::machine, "machine"},
    std::pair{LimitKind::other_processes, "other_processes"},
};

std::string percent(double share) { return fmt::format("{:.0f}%", 100.0 * std::clamp(share, 0.0, 1.0)); }
std::string milliseconds_text(Duration d) {
    return in_ms(d) < 10 ? fmt::format("{:.2f} ms", in_ms(d)) : fmt::format("{:.1f} ms", in_ms(d));
}
std::string frames(std::uint64_t n) { return fmt::format("{} frame{}", n, n == 1 ? "" : "s"); }
std::string workers_text(const StageReport& st) {
    return fmt::format("{} {}", st.concurrency, st.concurrency == 1 ? "worker" : "workers");
}

LimitKind kind_of(const StageReport& st) {
    if (st.name == "decode") return LimitKind::decoder;
    if (st.blocking_io) return LimitKind::writer;
    return LimitKind::stage;
}

std::string advice_for(const StageReport& st, std::size_t threads) {
    switch (kind_of(st)) {
    case LimitKind::decoder:
        return st.parallel
                   ? "a cheaper input (lower resolution or bit rate), or more processors"
                   : "decoding is in order per input: run several inputs at once, or use a cheaper input (lower "
                     "resolution or bit rate); a file already decodes with a thread more than its share of the "
                     "processors, a live input with one (--set source.decode_threads=2 gives it more, at a "
                     "picture of latency per thread)";
    case LimitKind::writer:
        return "it waits on its disk or encoder: a faster disk, a faster preset or codec, or, for live input, overflow: "
               "drop_oldest on the edge into it";
    default:
        if (!st.parallel)
            return "it is serial, so it uses one processor at most: make its work cheaper (smaller frames before it), "
                   "or run it in parallel if it does not need frames one at a time";
        if (threads > 0 && st.concurrency < threads)
            return fmt::format("give it more workers (it has {} of {} threads), or make frames smaller before it",
                               st.concurrency, threads);
        return "it already runs on every worker: make frames smaller before it (resize earlier), or use a cheaper setting";
    }
}

// The branch a stage is on, named by the last stage of each branch through it; empty when every branch goes through
// it (or there is one branch).
std::string branch_of(const SourceReport& s, std::size_t stage) {
    const std::vector<std::size_t> ends = s.branch_ends();
    if (ends.size() <= 1) return {};
    std::vector<std::string> through;
    for (const std::size_t end : ends) {
        const std::vector<std::size_t> path = s.branch_to(end);
        if (std::find(path.begin(), path.end(), stage) != path.end()) through.push_back(s.stages[end].name);
    }
    if (through.size() == ends.size()) return {};
    std::string names;
    for (const std::string& name : through) names += (names.empty() ? "" : ", ") + name;
    return names;
}

// The other branches' last stages, for a stage on one branch.
std::string siblings_of(const SourceReport& s, std::size_t stage) {
    std::string names;
    for (const std::size_t end : s.branch_ends()) {
        const std::vector<std::size_t> path = s.branch_to(end);
        if (std::find(path.begin(), path.end(), stage) == path.end())
            names += fmt::format("{}'{}'", names.empty() ? "" : ", ", s.stages[end].name);
    }
    return names;
}

// Share of the input's active time the producer of the edge into `stage` waited for space in it.
double blocked_share(const SourceReport& s, std::size_t stage) {
    return in_seconds(s.edges[stage].blocked_time) / std::max(in_seconds(s.active_time), 1e-9);
}

// How the stage's input edge shows it: the producer waited, or the edge was full.
std::string input_text(const SourceReport& s, std::size_t stage) {
    if (stage >= s.edges.size()) return {};
    const EdgeReport& e = s.edges[stage];
    const double blocked = blocked_share(s, stage);
    if (blocked >= 0.3) return fmt::format("; '{}' waited {} of the time to hand frames to it", e.from, percent(blocked));
    if (e.full_share >= 0.3) return fmt::format("; the edge into it was full {} of the time", percent(e.full_share));
    return {};
}

Limit stage_limit(const RunReport& report, const SourceReport& s, std::size_t i, std::string figure) {
    const StageReport& st = s.stages[i];
    Limit limit{kind_of(st), s.name, st.name, branch_of(s, i), std::move(figure), advice_for(st, report.threads)};
    if (!limit.branch.empty() && !s.live) {
        const std::string siblings = siblings_of(s, i);
        limit.figure += fmt::format("; the other branches ({}) wait for it, so the whole input goes at its pace", siblings);
        limit.advice += fmt::format(
            "; if this branch may lose frames, overflow: drop_oldest on its edge lets {} go at their own pace", siblings);
    }
    return limit;
}

std::string busy_figure(const StageReport& st) {
    return fmt::format("busy {} of its {} ({} a frame, {:.1f} frames/s)", percent(st.utilisation), workers_text(st),
                       milliseconds_text(st.service.mean), st.fps);
}

// Per input, when the machine is not the limit (questions 2 to 5).
Limit diagnose_source(const RunReport& report, const SourceReport& s) {
    const double active = std::max(in_seconds(s.active_time), 1e-9);
    // 2. A live input that stalled or lost its signal.
    const double lost = in_seconds(s.time_lost) / std::max(active, in_seconds(report.wall_time));
    if (s.live && (s.stalls > 0 || s.reconnects > 0) && lost >= kStalled)
        return {LimitKind::input, s.name, {}, {},
                fmt::format("nothing arrived for {:.1f} s of the run ({}: {} stall{}, {} reconnect{}); the stages had "
                            "nothing to do meanwhile",
                            in_seconds(s.time_lost), percent(lost), s.stalls, s.stalls == 1 ? "" : "s", s.reconnects,
                            s.reconnects == 1 ? "" : "s"),
                "check the camera and the network path to it; read_timeout bounds how long a stall lasts before the "
                "source reconnects"};
    // 3. Frames lost at an edge: the stage behind it could not keep up (a stop's discards are not its doing).
    std::size_t lossy = s.edges.size();
    std::uint64_t most = 0;
    for (std::size_t i = 0; i < s.edges.size() && i < s.stages.size(); ++i) {
        const EdgeReport& e = s.edges[i];
        const std::uint64_t lost_here = e.dropped() - e.discarded;
        if (lost_here > most) most = lost_here, lossy = i;
    }
    if (lossy < s.edges.size()) {
        const EdgeReport& e = s.edges[lossy];
        const StageReport& st = s.stages[lossy];
        const bool expired = e.expired * 2 >= most;
        const std::string cause =
            expired ? fmt::format("older than max_age ({:.0f} ms) when it reached them", e.max_age ? in_ms(*e.max_age) : 0.0)
                    : fmt::format("the edge was full ({})", to_string(e.overflow));
        Limit limit = stage_limit(report, s, lossy,
                                  fmt::format("{} of {} frames were dropped at {} -> {}: {}; '{}' was {}", most,
                                              s.captured, e.from, e.to, cause, st.name, busy_figure(st)));
        if (expired)
            limit.advice = fmt::format("'{}' must take frames sooner than max_age: make it cheaper or give it more "
                                       "workers, or raise max_age; {}",
                                       st.name, limit.advice);
        return limit;
    }
    // 4. The busiest stage, for the share of its workers' time it was busy (the furthest downstream of equals).
    std::size_t busiest = s.stages.size();
    for (std::size_t i = 0; i < s.stages.size(); ++i)
        if (busiest == s.stages.size() || s.stages[i].utilisation >= s.stages[busiest].utilisation - 0.02) busiest = i;
    if (busiest < s.stages.size() && s.stages[busiest].utilisation >= (s.live ? kBusyLive : kBusyFile))
        return stage_limit(report, s, busiest, busy_figure(s.stages[busiest]) + input_text(s, busiest));
    const std::string busiest_text =
        busiest < s.stages.size()
            ? fmt::format("the busiest stage, '{}', was busy {} of its {}", s.stages[busiest].name,
                          percent(s.stages[busiest].utilisation), workers_text(s.stages[busiest]))
            : std::string("no stages");
    // 5. Nothing in the pipeline: the source.
    const double captured_fps = s.captured > 1 ? static_cast<double>(s.captured - 1) / active : 0;
    if (s.live)
        return {LimitKind::source_pace, s.name, {}, {},
                fmt::format("{:.1f} frames/s captured{}; {}", captured_fps,
                            s.stated_fps > 0 ? fmt::format(" of the {:.1f} it states", s.stated_fps) : std::string(),
                            busiest_text),
                "nothing to do for this input; the idle capacity can take more inputs"};
    const double empty = s.edges.empty() ? 0.0 : s.edges.front().empty_share;
    return {LimitKind::input, s.name, {}, {},
            fmt::format("{:.1f} frames/s read; {}, and the edge from the source was empty {} of the time: reading the "
                        "input (on the source's thread) sets the pace",
                        captured_fps, busiest_text, percent(empty)),
            "a faster disk or a cheaper container; several inputs at once use the idle processors"};
}

}  // namespace

std::string_view to_string(LimitKind kind) noexcept {
    for (const auto& [value, name] : kLimitNames)
        if (value == kind) return name;
    return "?";
}

std::optional<LimitKind> parse_limit_kind(std::string_view text) noexcept {
    for (const auto& [value, name] : kLimitNames)
        if (name == text) return value;
    return std::nullopt;
}

std::vector<Limit> diagnose(const RunReport& report) {
    if (report.sources.empty() || !report.profiled) return {};
    const double wall = std::max(in_seconds(report.wall_time), 1e-9);
    // 1. The machine. Without processor times (a report from an older version), the stages' own work stands in.
    double stage_cores = 0;
    std::map<std::string, Duration> work;  // per stage name, over every input: what runs on processors
    for (const SourceReport& s : report.sources)
        for (const StageReport& st : s.stages) {
            if (st.blocking_io) continue;  // its time is spent waiting on I/O, not on a processor
            stage_cores += in_seconds(st.busy) / wall;
            work[st.name] += st.busy;
        }
    const bool several_inputs = report.sources.size() > 1;
    const double cores = report.machine ? static_cast<double>(report.machine->cores) : static_cast<double>(report.threads);
    const double busy = report.machine ? report.machine->busy_cores : stage_cores;
    if (cores > 0 && busy >= kSaturated * cores && !work.empty()) {
        const auto costliest = std::max_element(work.begin(), work.end(),
                                                [](const auto& a, const auto& b) { return a.second < b.second; });
        Duration all_work{};
        for (const auto& [name, time] : work) all_work += time;
        const double share = in_seconds(costliest->second) / std::max(in_seconds(all_work), 1e-9);
        const std::string processors =
            fmt::format("all {:.0f} processors were busy ({:.2f} on average)", cores, busy);
        const std::string costliest_text =
            fmt::format("'{}' did {} of the stages' work", costliest->first, percent(share));
        Limit limit;
        limit.stage = costliest->first;
        const double others = report.machine ? report.machine->other_cores() : 0.0;
        if (others >= kOthers * cores) {
            limit.kind = LimitKind::other_processes;
            limit.figure = fmt::format("{}, {:.2f} of them other processes' work and {:.2f} framepipe's", processors,
                                       others, report.machine->process_cores);
            limit.advice = "run it when the machine is idle, or give framepipe processors of its own (taskset, or a "
                           "lower priority for the other work with nice)";
        } else {
            limit.figure = report.machine ? fmt::format("{}, {:.2f} of them framepipe's; {}", processors,
                                                        report.machine->process_cores, costliest_text)
                                          : fmt::format("{} with the stages' work; {}", processors, costliest_text);
            // One stage doing most of the work is the limit on this machine; otherwise the machine is.
            const StageReport* example = nullptr;
            for (const SourceReport& s : report.sources)
                for (const StageReport& st : s.stages)
                    if (st.name == costliest->first && example == nullptr) example = &st;
            if (share >= kDominant && example != nullptr) {
                limit.kind = kind_of(*example);
                limit.advice = advice_for(*example, report.threads);
                // A stage whose input was full while it was idle waited for a processor: starved by the dominant
                // stage, not slow itself. The one that waited most is named.
                const SourceReport* starved_source = nullptr;
                std::size_t starved = 0;
                double most_waited = 0;
                for (const SourceReport& s : report.sources)
                    for (std::size_t i = 0; i < s.stages.size() && i < s.edges.size(); ++i) {
                        const double waited = std::max(s.edges[i].full_share, blocked_share(s, i));
                        if (s.stages[i].name != costliest->first && s.stages[i].utilisation < kStarved &&
                            waited >= 0.3 && waited > most_waited)
                            most_waited = waited, starved_source = &s, starved = i;
                    }
                if (starved_source != nullptr)
                    limit.figure += fmt::format("; '{}'{} waited for a processor: busy {}{}",
                                                starved_source->stages[starved].name,
                                                several_inputs ? " of " + starved_source->name : "",
                                                percent(starved_source->stages[starved].utilisation),
                                                input_text(*starved_source, starved));
            } else {
                limit.kind = LimitKind::machine;
                limit.advice = fmt::format("more processors, or less work per frame, '{}' first ({})", costliest->first,
                                           example != nullptr && kind_of(*example) == LimitKind::decoder
                                               ? "a lower resolution or bit rate input"
                                               : "smaller frames before it, or a cheaper setting");
            }
        }
        return {limit};
    }
    std::vector<Limit> limits;
    for (const SourceReport& s : report.sources)
        if (!s.stages.empty()) limits.push_back(diagnose_source(report, s));
    return limits;
}

std::string limit_headline(const Limit& l, bool several_inputs) {
    const std::string who = l.source.empty() || !several_inputs ? "" : l.source + ": ";
    const std::string on_branch = l.branch.empty() ? "" : fmt::format(" (on the branch to '{}')", l.branch);
    switch (l.kind) {
    case LimitKind::source_pace: return who + "Nothing limits: the source sets the pace";
    case LimitKind::input: return who + "The input is the limit";
    case LimitKind::machine: return who + "The machine is the limit";
    case LimitKind::other_processes: return who + "Other processes are the limit";
    case LimitKind::decoder: return fmt::format("{}The decoder ('{}') limits throughput{}", who, l.stage, on_branch);
    case LimitKind::writer: return fmt::format("{}The output '{}' limits throughput{}", who, l.stage, on_branch);
    case LimitKind::stage: return fmt::format("{}'{}' limits throughput{}", who, l.stage, on_branch);
    }
    return {};
}

std::string describe_limit(const Limit& l, bool several_inputs) {
    const std::string headline = limit_headline(l, several_inputs);
    if (l.kind == LimitKind::source_pace) return fmt::format("{}: {}.", headline, l.figure);  // nothing to try
    return fmt::format("{}: {}. Try: {}.", headline, l.figure, l.advice);
}

std::vector<std::string> loss_sentences(const RunReport& report) {
    const bool several = report.sources.size() > 1;
    std::vector<std::string> out;
    for (const SourceReport& s : report.sources) {
        const std::string who = several ? s.name + ": " : "";
        if (s.reconnects > 0)
            out.push_back(fmt::format("{}The signal was lost {} time{} ({:.1f} s without it{}); the source was reopened "
                                      "each time.",
                                      who, s.reconnects, s.reconnects == 1 ? "" : "s", in_seconds(s.time_lost),
                                      s.signal_lost ? ", and it was lost at the end" : ""));
        std::string dropped, filtered, rejected;
        for (const FrameLoss& loss : losses_of(s)) {
            std::string& text = loss.kind == CounterRole::filter ? filtered
                                : loss.kind == CounterRole::drop ? dropped
                                                                 : rejected;
            text += fmt::format("{}{} at {}, {}", text.empty() ? "" : "; ", loss.frames, loss.where, loss.why);
        }
        if (s.dropped() > 0 && s.captured > 0)
            out.push_back(fmt::format("{}{} of {} frames ({}) were lost: {}{}", who, s.dropped(), s.captured,
                                      percent(static_cast<double>(s.dropped()) / static_cast<double>(s.captured)),
                                      dropped, s.live ? "; that keeps the output live." : "."));
        if (s.filtered() > 0)
            out.push_back(fmt::format("{}{} filtered on purpose, not lost: {}.", who, frames(s.filtered()), filtered));
        if (s.rejected() > 0)
            out.push_back(fmt::format("{}{} rejected as bad data: {}.", who, frames(s.rejected()), rejected));
    }
    return out;
}

std::string bottleneck_verdict(const RunReport& report) {
    if (report.sources.empty()) return "Nothing ran.";
    if (!report.profiled) return "Profiling was off (profile: false), so no stage timings: only counts and drops.";
    std::string out;
    for (const Limit& l : report.limits.empty() ? diagnose(report) : report.limits)
        out += (out.empty() ? "" : "\n") + describe_limit(l, report.sources.size() > 1);
    // Where frames went that were not delivered: lost (with the cause), chosen, refused.
    for (const std::string& sentence : loss_sentences(report)) out += (out.empty() ? "" : "\n") + sentence;
    return out.empty() ? "Nothing ran." : out;
}

}  // namespace framepipe
