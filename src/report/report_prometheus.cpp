// The report in Prometheus text exposition format (version 0.0.4): counters end in _total, times are in seconds,
// latency summaries carry quantiles 0.5, 0.9 and 0.99 plus _sum and _count, every series is labelled by source (and
// stage or edge). Summaries are over the whole run so far.
#include "text_escape.hpp"

#include <framepipe/report_io.hpp>

#include <fmt/format.h>

#include <chrono>

namespace framepipe {
namespace {

class Exposition {
public:
    /// Starts a metric family; samples follow with sample().
    void family(const char* name, const char* type, const char* help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(const std::string& name, const std::string& labels, double value) {
        if (labels.empty()) out_ += fmt::format("{} {}\n", name, value);
        else out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
    void summary(const char* name, const std::string& labels, const LatencySummary& l) {
        sample(name, labels + R"(,quantile="0.5")", in_seconds(l.p50));
        sample(name, labels + R"(,quantile="0.9")", in_seconds(l.p90));
        sample(name, labels + R"(,quantile="0.99")", in_seconds(l.p99));
        sample(std::string(name) + "_sum", labels, in_seconds(l.mean) * static_cast<double>(l.count));
        sample(std::string(name) + "_count", labels, static_cast<double>(l.count));
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

std::string label(const char* name, const std::string& value) {
    return fmt::format(R"({}="{}")", name, prometheus_label_value(value));
}

}  // namespace

std::string prometheus_label_value(std::string_view raw) {
    const std::string value = displayable(raw);  // label values must be UTF-8; no control characters in a line
    std::string out;
    for (const char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string report_to_prometheus(const RunReport& report) {
    Exposition x;
    x.family("framepipe_run_seconds", "gauge", "Time since the run started.");
    x.sample("framepipe_run_seconds", "", in_seconds(report.wall_time));

    struct SourceMetric {
        const char* name;
        const char* type;
        const char* help;
        double (*value)(const SourceReport&);
    };
    static const SourceMetric per_source[] = {
        {"framepipe_source_frames_captured_total", "counter", "Frames read from the source.",
         [](const SourceReport& s) { return double(s.captured); }},
        {"framepipe_source_frames_delivered_total", "counter", "Frames that passed the last stage.",
         [](const SourceReport& s) { return double(s.delivered); }},
        {"framepipe_source_frames_dropped_total", "counter", "Frames dropped anywhere (every cause).",
         [](const SourceReport& s) { return double(s.dropped()); }},
        {"framepipe_source_frames_dropped_at_capture_total", "counter", "Live frames read but never admitted.",
         [](const SourceReport& s) { return double(s.dropped_at_capture); }},
        {"framepipe_source_frames_skipped_by_source_total", "counter",
         "Frames the source itself skipped (gaps in its own frame numbers).",
         [](const SourceReport& s) { return double(s.skipped_by_source); }},
        {"framepipe_source_ended_early", "gauge", "1 when the input ended before its natural end (read error, cut short).",
         [](const SourceReport& s) { return s.ended_early.empty() ? 0.0 : 1.0; }},
        {"framepipe_source_reconnects_total", "counter", "Times the source's signal was lost and reopened.",
         [](const SourceReport& s) { return double(s.reconnects); }},
        {"framepipe_source_time_lost_seconds_total", "counter", "Time without signal.",
         [](const SourceReport& s) { return in_seconds(s.time_lost); }},
        {"framepipe_source_signal_lost", "gauge", "1 while the source has no signal.",
         [](const SourceReport& s) { return s.signal_lost ? 1.0 : 0.0; }},
        {"framepipe_source_behind_real_time_seconds", "gauge", "Live sources: how far the output lags the media clock.",
         [](const SourceReport& s) { return in_seconds(s.behind_real_time); }},
    };
    for (const SourceMetric& m : per_source) {
        x.family(m.name, m.type, m.help);
        for (const SourceReport& s : report.sources) x.sample(m.name, label("source", s.name), m.value(s));
    }

    x.family("framepipe_end_to_end_latency_seconds", "summary", "Capture to the end of the last stage, per frame.");
    for (const SourceReport& s : report.sources)
        x.summary("framepipe_end_to_end_latency_seconds", label("source", s.name), s.end_to_end);

    x.family("framepipe_edge_queued_frames", "gauge", "Frames waiting in the edge into a stage.");
    for (const SourceReport& s : report.sources)
        for (const EdgeReport& e : s.edges)
            x.sample("framepipe_edge_queued_frames", label("source", s.name) + "," + label("to", e.to), double(e.queued));
    x.family("framepipe_edge_capacity_frames", "gauge", "Capacity of the edge into a stage.");
    for (const SourceReport& s : report.sources)
        for (const EdgeReport& e : s.edges)
            x.sample("framepipe_edge_capacity_frames", label("source", s.name) + "," + label("to", e.to),
                     double(e.capacity));
    x.family("framepipe_edge_frames_dropped_total", "counter", "Frames an edge dropped, by cause.");
    for (const SourceReport& s : report.sources)
        for (const EdgeReport& e : s.edges) {
            const std::string where = label("source", s.name) + "," + label("to", e.to);
            const std::pair<const char*, std::uint64_t> causes[] = {{"oldest", e.dropped_oldest},
                                                                    {"newest", e.dropped_newest},
                                                                    {"expired", e.expired},
                                                                    {"discarded", e.discarded}};
            for (const auto& [cause, count] : causes)
                x.sample("framepipe_edge_frames_dropped_total", where + "," + label("cause", cause), double(count));
        }

    // Per stage: counters, and latency summaries.
    const auto stage_labels = [](const SourceReport& s, const StageReport& st) {
        return label("source", s.name) + "," + label("stage", st.name);
    };
    const auto per_stage = [&](const char* name, const char* help, auto value) {
        x.family(name, "counter", help);
        for (const SourceReport& s : report.sources)
            for (const StageReport& st : s.stages) x.sample(name, stage_labels(s, st), value(st));
    };
    per_stage("framepipe_stage_frames_processed_total", "Frames given to the stage.",
              [](const StageReport& st) { return double(st.processed); });
    per_stage("framepipe_stage_frames_dropped_total", "Frames the stage filtered, rejected or ended on.",
              [](const StageReport& st) { return double(st.dropped()); });
    per_stage("framepipe_stage_frames_unwritten_total", "Frames the stage could not write to its output (they passed on).",
              [](const StageReport& st) { return double(st.unwritten); });
    per_stage("framepipe_stage_frames_damaged_total", "Frames passed on with damaged pixels (errors concealed).",
              [](const StageReport& st) { return double(st.damaged); });
    x.family("framepipe_stage_output_stopped", "gauge", "1 when the stage's output stopped while the run goes on.");
    for (const SourceReport& s : report.sources)
        for (const StageReport& st : s.stages)
            x.sample("framepipe_stage_output_stopped", stage_labels(s, st), st.output_stopped.empty() ? 0.0 : 1.0);
    per_stage("framepipe_stage_busy_seconds_total", "Time the stage spent processing (all its workers).",
              [](const StageReport& st) { return in_seconds(st.busy); });
    const auto per_stage_summary = [&](const char* name, const char* help, LatencySummary StageReport::*member) {
        x.family(name, "summary", help);
        for (const SourceReport& s : report.sources)
            for (const StageReport& st : s.stages) x.summary(name, stage_labels(s, st), st.*member);
    };
    per_stage_summary("framepipe_stage_service_seconds", "Time inside the stage, per frame.", &StageReport::service);
    per_stage_summary("framepipe_stage_wait_seconds", "Time a frame waited in front of the stage.", &StageReport::wait);
    return x.take();
}

}  // namespace framepipe
