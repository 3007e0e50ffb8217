// Per-stage figures as CSV (RFC 4180: comma separated, CRLF line ends, fields with a comma, quote or line break quoted),
// one row per stage of every source, for spreadsheets. Counts and times come from StageCounts' field list; latencies
// are in milliseconds.
#include "text_escape.hpp"

#include <framepipe/error.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>

#include <fstream>

namespace framepipe {

std::string report_to_stage_csv(const RunReport& report) {
    std::string out = "source,stage,workers";
    for (const auto& field : StageCounts::counters()) out += fmt::format(",{}", field.key);
    out += ",dropped";
    for (const auto& field : StageCounts::times()) out += fmt::format(",{}", field.key);
    for (const char* latency : {"service", "wait"})
        out += fmt::format(",{0}_p50_ms,{0}_p90_ms,{0}_p95_ms,{0}_p99_ms,{0}_max_ms", latency);
    out += ",utilisation,fps\r\n";
    for (const SourceReport& s : report.sources)
        for (const StageReport& st : s.stages) {
            out += fmt::format("{},{},{}", csv_field(s.name), csv_field(st.name), st.concurrency);
            for (const auto& field : StageCounts::counters()) out += fmt::format(",{}", st.*field.member);
            out += fmt::format(",{}", st.dropped());
            for (const auto& field : StageCounts::times()) out += fmt::format(",{:.3f}", in_ms(st.*field.member));
            for (const LatencySummary* l : {&st.service, &st.wait})
                out += fmt::format(",{:.3f},{:.3f},{:.3f},{:.3f},{:.3f}", in_ms(l->p50), in_ms(l->p90),
                                   in_ms(l->p95), in_ms(l->p99), in_ms(l->max));
            out += fmt::format(",{:.4f},{:.2f}\r\n", st.utilisation, st.fps);
        }
    return out;
}

void write_report_stage_csv(const RunReport& report, const std::string& path, const std::string& /*title*/) {
    const std::string text = report_to_stage_csv(report);
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw Error(fmt::format("cannot write '{}'", path));
}

}  // namespace framepipe
