#pragma once
// Reports on disk: JSON for scripts (schema: include/framepipe/report.schema.json, "framepipe-report/3"), and a
// self-contained HTML page with charts for people (latency over time, where each frame's time goes per stage, edge
// depths and stage load over time), and the other outputs in `report_outputs`. `framepipe run --report run.json` writes
// them all; `framepipe report run.json` reads the JSON back and writes the others again.
//
// JSON conventions: durations are milliseconds (numbers, suffix _ms), shares are 0..1, counts are integers, a value
// that does not apply is null. Fields are only ever added within a schema version.

#include <framepipe/report.hpp>

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

namespace framepipe {

inline constexpr const char* kReportSchema = "framepipe-report/3";

[[nodiscard]] std::string report_to_json(const RunReport& report);
/// Throws Error naming the file when it cannot be written.
void write_report_json(const RunReport& report, const std::string& path);
/// Throws ConfigError naming the file when it is missing, not JSON, or not a framepipe report.
[[nodiscard]] RunReport read_report_json(const std::string& path);

/// The report in Prometheus text format (counters, gauges and latency summaries labelled by source, stage and edge),
/// for a /metrics endpoint. Works on progress snapshots.
[[nodiscard]] std::string report_to_prometheus(const RunReport& report);
/// A Prometheus label value: bytes that are not UTF-8 and control characters written as \xHH, then backslash and
/// double quote escaped.
[[nodiscard]] std::string prometheus_label_value(std::string_view value);

/// A self-contained HTML page (inline SVG, no scripts, nothing fetched). Throws Error when it cannot be written.
void write_report_html(const RunReport& report, const std::string& path, const std::string& title = "framepipe run");

/// One CSV row per stage of every source: counts, drops, busy time, service and wait latency (p50, p90, p99, max in
/// ms), utilisation and fps, for spreadsheets. The write throws Error naming the file when it cannot be written.
[[nodiscard]] std::string report_to_stage_csv(const RunReport& report);
void write_report_stage_csv(const RunReport& report, const std::string& path, const std::string& title);

/// A file `framepipe run --report RUN.json` writes next to the JSON, and `framepipe report RUN.json` writes again: its
/// path is the JSON's with `extension` in place of ".json". `write` throws Error naming the file when it cannot write.
struct ReportOutput {
    std::string_view extension;
    std::string_view what;  // for help texts
    void (*write)(const RunReport& report, const std::string& path, const std::string& title);
};

inline constexpr std::array report_outputs = {
    ReportOutput{".html", "an HTML page of charts", &write_report_html},
    ReportOutput{".stages.csv", "per-stage counts and latencies as CSV", &write_report_stage_csv},
};

/// RUN.json -> RUN<extension>
[[nodiscard]] inline std::string report_output_path(const std::string& json_path, std::string_view extension) {
    std::filesystem::path path(json_path);
    path.replace_extension(extension);
    return path.string();
}

}  // namespace framepipe
