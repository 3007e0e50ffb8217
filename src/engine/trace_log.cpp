#include "trace_log.hpp"

#include "../report/text_escape.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

namespace framepipe::detail {
namespace {

int track_of(const TraceSlice& s) { return (s.stage + 1) * 1000 + s.worker; }

}  // namespace

void TraceLog::write_chrome_trace(const std::string& path, const RunReport& report, TimePoint origin) const {
    std::FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) throw Error(fmt::format("cannot write the trace file '{}'", path));
    const std::size_t kept = std::min(next_.load(), capacity_);
    const std::int64_t zero = origin.time_since_epoch().count();
    const auto us = [zero](std::int64_t ns) { return static_cast<double>(ns - zero) / 1000.0; };
    bool first = true;
    const auto event = [&](const std::string& json) {
        std::fputs(first ? "\n  " : ",\n  ", file);
        std::fputs(json.c_str(), file);
        first = false;
    };
    std::fputs("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [", file);
    // Names: a process per source, a thread (track) per stage and worker.
    std::set<std::pair<std::uint32_t, int>> tracks;
    for (std::size_t i = 0; i < kept; ++i) tracks.emplace(slices_[i].source, track_of(slices_[i]));
    for (std::size_t s = 0; s < report.sources.size(); ++s) {
        event(fmt::format(R"({{"name": "process_name", "ph": "M", "pid": {}, "args": {{"name": {}}}}})", s + 1,
                          json_quoted(report.sources[s].name)));
        event(fmt::format(R"({{"name": "process_sort_index", "ph": "M", "pid": {}, "args": {{"sort_index": {}}}}})", s + 1, s));
    }
    for (const auto& [source, track] : tracks) {
        const std::size_t stage = static_cast<std::size_t>(track / 1000 - 1);
        const auto& stages = report.sources.at(source).stages;
        const std::string name = stage < stages.size() ? stages[stage].name : fmt::format("stage {}", stage);
        event(fmt::format(R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": {}}}}})",
                          source + 1, track, json_quoted(fmt::format("{} (worker {})", name, track % 1000))));
        event(fmt::format(R"({{"name": "thread_sort_index", "ph": "M", "pid": {}, "tid": {}, "args": {{"sort_index": {}}}}})",
                          source + 1, track, track));
    }
    for (std::size_t i = 0; i < kept; ++i) {
        const TraceSlice& s = slices_[i];
        const auto& stages = report.sources.at(s.source).stages;
        const std::string& name = s.stage < stages.size() ? stages[s.stage].name : "stage";
        event(fmt::format(R"({{"name": {}, "cat": "stage", "ph": "X", "pid": {}, "tid": {}, "ts": {:.3f}, "dur": {:.3f}, "args": {{"frame": {}}}}})",
                          json_quoted(name), s.source + 1, track_of(s), us(s.start_ns),
                          static_cast<double>(s.duration_ns) / 1000.0, s.frame));
    }
    // Edge depths over time, from the report's timeline.
    const std::int64_t start_offset = 0;
    for (const TimelineSample& sample : report.timeline) {
        for (std::size_t s = 0; s < sample.sources.size() && s < report.sources.size(); ++s) {
            const auto& edges = report.sources[s].edges;
            std::string args;
            for (std::size_t e = 0; e < sample.sources[s].edge_depth.size() && e < edges.size(); ++e)
                args += fmt::format("{}{}: {}", e ? ", " : "", json_quoted(edges[e].from + " -> " + edges[e].to),
                                    sample.sources[s].edge_depth[e]);
            event(fmt::format(R"({{"name": "edge depth", "ph": "C", "pid": {}, "ts": {:.3f}, "args": {{{}}}}})", s + 1,
                              static_cast<double>(sample.at.count() + start_offset) / 1000.0, args));
        }
    }
    const std::size_t lost = next_.load() > capacity_ ? next_.load() - capacity_ : 0;
    std::fputs(fmt::format("\n], \"otherData\": {{\"slices\": {}, \"slices_not_kept\": {}}}}}\n", kept, lost).c_str(), file);
    if (std::fclose(file) != 0) throw Error(fmt::format("cannot write the trace file '{}'", path));
}

}  // namespace framepipe::detail
