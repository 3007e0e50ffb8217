// The bottleneck verdict: from a finished report, which stage limits throughput, how busy it is, which edge was full
// most of the time, where frames were dropped, and what to try.
#include <framepipe/report.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace framepipe {
namespace {

std::string percent(double share) { return fmt::format("{:.0f}%", 100.0 * share); }

std::string advice_for(const StageReport& stage, std::size_t threads) {
    if (stage.name == "decode")
        return stage.parallel ? "more cores, or a cheaper input (lower resolution or bit rate)"
                              : "decoding is in order per input: give it threads (--set source.decode_threads=2) when "
                                "there are fewer inputs than cores, or run several inputs at once";
    if (stage.blocking_io)
        return "it waits on disk or an encoder: a faster preset or codec, a faster disk, or, for live input, "
               "overflow: drop_oldest on its edge";
    if (!stage.parallel)
        return "it is serial and can use one core at most: make its work cheaper (smaller frames before it), or run "
               "it in parallel if it does not need frames one at a time";
    if (stage.concurrency < threads)
        return fmt::format("give it more workers (it has {} of {} threads), or make frames smaller before it",
                           stage.concurrency, threads);
    return "it already runs on every core: make frames smaller before it (resize earlier), or use a cheaper setting";
}

}  // namespace

std::string bottleneck_verdict(const RunReport& report) {
    if (report.sources.empty()) return "Nothing ran.";
    if (!report.profiled) return "Profiling was off (profile: false), so no stage timings: only counts and drops.";
    const double wall = std::max(in_seconds(report.wall_time), 1e-9);
    // All the work the stages did, in cores: close to the thread count means the machine itself is the limit.
    double cores_busy = 0;
    const StageReport* costliest = nullptr;
    for (const SourceReport& s : report.sources)
        for (const StageReport& stage : s.stages) {
            if (stage.blocking_io) continue;  // its time is spent waiting on I/O, not on a core
            cores_busy += in_seconds(stage.busy) / wall;
            if (costliest == nullptr || stage.busy > costliest->busy) costliest = &stage;
        }
    const bool machine_busy = report.threads > 0 && cores_busy >= 0.85 * static_cast<double>(report.threads);

    std::string out;
    for (const SourceReport& s : report.sources) {
        if (s.stages.empty()) continue;
        const double active = std::max(in_seconds(s.active_time), 1e-9);
        // The stage that cannot keep up is the furthest downstream one whose input edge is usually full.
        std::size_t bottleneck = s.stages.size();
        double bottleneck_share = 0;
        bool share_is_blocking = false;  // the share is how long the producer waited, not how long the edge was full
        for (std::size_t i = 0; i < s.edges.size() && i < s.stages.size(); ++i) {
            const double blocked = in_seconds(s.edges[i].blocked_time) / active;
            const double share = std::max(s.edges[i].full_share, blocked);
            if (share >= 0.5)
                bottleneck = i, bottleneck_share = std::min(share, 1.0), share_is_blocking = blocked > s.edges[i].full_share;
        }
        // Quoted as the tables show it: the edge's own full share, or the time its producer waited to hand frames on.
        const auto queue_text = [&](std::size_t i) {
            return share_is_blocking ? fmt::format("'{}' waited {} of the time to hand frames to it", s.edges[i].from,
                                                   percent(bottleneck_share))
                                     : fmt::format("the edge into it ({} -> {}) was full {} of the time", s.edges[i].from,
                                                   s.edges[i].to, percent(bottleneck_share));
        };
        std::string line = report.sources.size() > 1 ? fmt::format("{}: ", s.name) : "";
        // A stage whose input is full while it is mostly idle is waiting for a core, not slow itself.
        const bool starved = bottleneck < s.stages.size() && s.stages[bottleneck].utilisation < 0.3;
        if (machine_busy) {
            if (starved)
                line += fmt::format("'{}' often waited for a core: {} while it was busy {}.",
                                    s.stages[bottleneck].name, queue_text(bottleneck),
                                    percent(s.stages[bottleneck].utilisation));
            else if (bottleneck < s.stages.size())
                line += fmt::format("'{}' is where frames queue: {} (busy {} of its {} {}).",
                                    s.stages[bottleneck].name, queue_text(bottleneck),
                                    percent(s.stages[bottleneck].utilisation), s.stages[bottleneck].concurrency,
                                    s.stages[bottleneck].concurrency == 1 ? "worker" : "workers");
        } else if (bottleneck < s.stages.size()) {
            const StageReport& stage = s.stages[bottleneck];
            line += fmt::format("'{}' limits throughput: {}, while it ran at {:.1f} frames/s, busy {} of its {} {}. "
                                "Try: {}.",
                                stage.name, queue_text(bottleneck), stage.fps,
                                percent(stage.utilisation), stage.concurrency,
                                stage.concurrency == 1 ? "worker" : "workers", advice_for(stage, report.threads));
        } else if (s.live) {
            const auto busiest = std::max_element(s.stages.begin(), s.stages.end(), [](const auto& a, const auto& b) {
                return a.utilisation < b.utilisation;
            });
            line += fmt::format("The pipeline keeps up with the live source (busiest stage '{}' at {})",
                                busiest->name, percent(busiest->utilisation));
            if (s.behind_real_time_max > Duration::zero())
                line += fmt::format("; output is {:.0f} ms behind real time at worst",
                                    in_ms(s.behind_real_time_max));
            line += ".";
        } else {
            line += "No edge filled up: reading the input (on the source thread) is the limit.";
        }
        if (s.reconnects > 0)
            line += fmt::format(" The signal was lost {} time{} ({:.1f} s without it{}); the source was reopened each time.",
                                s.reconnects, s.reconnects == 1 ? "" : "s",
                                in_seconds(s.time_lost),
                                s.signal_lost ? ", and it was lost at the end" : "");
        const EdgeReport* dropping = nullptr;
        for (const EdgeReport& e : s.edges)
            if (e.dropped() > 0 && (dropping == nullptr || e.dropped() > dropping->dropped())) dropping = &e;
        if (s.dropped() > 0 && s.captured > 0) {
            line += fmt::format(" {} of {} frames ({}) were dropped", s.dropped(), s.captured,
                                percent(static_cast<double>(s.dropped()) / static_cast<double>(s.captured)));
            if (dropping != nullptr)
                line += fmt::format(", most at {} -> {} ({})", dropping->from, dropping->to, to_string(dropping->overflow));
            line += s.live ? "; that keeps the output live." : ".";
        }
        if (!line.empty() && line != fmt::format("{}: ", s.name)) out += (out.empty() ? "" : "\n") + line;
    }
    if (machine_busy && costliest != nullptr) {
        const bool decode = costliest->name == "decode";
        out = fmt::format("All {} cores were busy ({:.1f} cores of stage work): the machine is the limit. The costliest "
                          "stage is '{}' ({:.2f} ms a frame); making it cheaper helps most{}.",
                          report.threads, cores_busy, costliest->name,
                          in_ms(costliest->service.mean),
                          decode ? " (a smaller or lower bit rate input)" : ", e.g. with smaller frames before it") +
              (out.empty() ? "" : "\n" + out);
    }
    return out.empty() ? "Nothing ran." : out;
}

}  // namespace framepipe
