#include <framepipe/report.hpp>

#include <fmt/format.h>

#include <chrono>

namespace framepipe {
namespace {

std::string ms(Duration d) {
    const double v = in_ms(d);
    return v < 10 ? fmt::format("{:.2f}", v) : fmt::format("{:.1f}", v);
}

std::string percentiles(const LatencySummary& l) {
    return fmt::format("{} / {} / {} ms", ms(l.p50), ms(l.p95), ms(l.p99));
}

std::string seconds(Duration d) { return fmt::format("{:.2f} s", in_seconds(d)); }

}  // namespace

std::string format_summary(const RunReport& report) {
    std::string out;
    for (const SourceReport& s : report.sources) {
        out += fmt::format("{} ({}): {} captured, {} delivered, {} filtered, {} rejected, {} dropped, {:.1f} fps, "
                           "end-to-end p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
                           s.name, s.live ? "live" : "file", s.captured, s.delivered, s.filtered(), s.rejected(),
                           s.dropped(), s.fps(), ms(s.end_to_end.p50), ms(s.end_to_end.p95), ms(s.end_to_end.p99),
                           ms(s.end_to_end.max));
        if (s.live)
            out += fmt::format(", {} ms behind real time (worst {} ms)", ms(s.behind_real_time), ms(s.behind_real_time_max));
        if (s.skipped_by_source > 0)
            out += fmt::format(", {} skipped by the source before capture", s.skipped_by_source);
        if (s.damaged() > 0) out += fmt::format(", {} damaged (decoded with errors concealed)", s.damaged());
        if (!s.ended_early.empty()) out += fmt::format(", ended early: {}", s.ended_early);
        if (s.reconnects > 0)
            out += fmt::format(", signal lost {} time{} ({} without signal{})", s.reconnects, s.reconnects == 1 ? "" : "s",
                               seconds(s.time_lost), s.signal_lost ? ", lost at the end" : "");
        out += "\n";
        out += fmt::format("  {:<28} {:>4} {:<11} {:>8} {:>9} {:>8} {:>5} {:>5} {:>9}\n", "edge", "cap", "policy",
                           "pushed", "delivered", "dropped", "peak", "full", "blocked");
        for (const EdgeReport& e : s.edges)
            out += fmt::format("  {:<28} {:>4} {:<11} {:>8} {:>9} {:>8} {:>5} {:>4.0f}% {:>9}\n",
                               fmt::format("{} -> {}", e.from, e.to), e.capacity, to_string(e.overflow), e.pushed,
                               e.delivered, e.dropped(), e.peak_depth, 100 * e.full_share, seconds(e.blocked_time));
        out += fmt::format("  {:<18} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>24} {:>24} {:>6} {:>9}\n", "stage",
                           "workers", "processed", "passed", "filtered", "rejected", "dropped", "service p50/p95/p99",
                           "wait p50/p95/p99", "busy", "fps");
        for (const StageReport& st : s.stages)
            out += fmt::format("  {:<18} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>24} {:>24} {:>5.0f}% {:>9.1f}\n",
                               st.name, st.concurrency, st.processed, st.passed, st.filtered_total(),
                               st.rejected_total(), st.dropped(),
                               percentiles(st.service), percentiles(st.wait), 100 * st.utilisation, st.fps);
        if (report.profiled && !s.stages.empty() && s.stages.front().service.count < s.stages.front().processed)
            out += fmt::format(
                "  timed {} of {} frames: they came faster than profile_spacing (percentiles are over "
                "the timed frames, busy time counts every frame)\n",
                s.stages.front().service.count, s.stages.front().processed);
        for (const FrameLoss& loss : losses_of(s))
            out += fmt::format("  {} {} {}: {}\n", loss.frames,
                               loss.word(),
                               loss.where == "capture" ? "at capture" : "at " + loss.where, loss.why);
        for (const StageReport& st : s.stages) {
            if (!st.output_stopped.empty()) out += fmt::format("  {}: output stopped: {}\n", st.name, st.output_stopped);
            if (st.unwritten > 0)
                out += fmt::format("  {}: {} frame(s) not written to its output\n", st.name, st.unwritten);
        }
    }
    out += fmt::format("wall time {}{}{}\n", seconds(report.wall_time), report.stopped ? ", stopped on request" : "",
                       report.drain_timed_out ? " (drain timed out: in-flight frames were discarded)" : "");
    if (!report.verdict.empty()) out += fmt::format("verdict: {}\n", report.verdict);
    if (report.error) out += fmt::format("error: {}\n", report.error->describe());
    return out;
}

}  // namespace framepipe
