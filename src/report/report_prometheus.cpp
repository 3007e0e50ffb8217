// The report in Prometheus text exposition format (version 0.0.4): counters end in _total, times are in seconds,
// latency summaries carry quantiles 0.5, 0.9, 0.95 and 0.99 plus _sum and _count, every series is labelled by source (and
// stage or edge). Summaries are over the whole run so far.
#include "text_escape.hpp"

#include <framepipe/report_io.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string_view>
#include <utility>
#include <vector>

namespace framepipe {
namespace {

class Exposition {
public:
    /// Starts a metric family; samples follow with sample().
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, const std::string& labels, double value) {
        if (labels.empty()) out_ += fmt::format("{} {}\n", name, value);
        else out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
    void summary(const char* name, const std::string& labels, const LatencySummary& l) {
        sample(name, labels + R"(,quantile="0.5")", in_seconds(l.p50));
        sample(name, labels + R"(,quantile="0.9")", in_seconds(l.p90));
        sample(name, labels + R"(,quantile="0.95")", in_seconds(l.p95));
        sample(name, labels + R"(,quantile="0.99")", in_seconds(l.p99));
        sample(std::string(name) + "_sum", labels, in_seconds(l.mean) * static_cast<double>(l.count));
        sample(std::string(name) + "_count", labels, static_cast<double>(l.count));
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
    return fmt::format(R"({}="{}")", name, prometheus_label_value(value));
}

// Every exported counter, drop family and time of a counts struct (see counters.hpp), one sample per row. A row is
// its series' labels and its counts.
template <class Counts>
using Rows = std::vector<std::pair<std::string, const Counts*>>;

template <class Counts>
void expose_counts(Exposition& x, const Rows<Counts>& rows) {
    for (const auto& field : Counts::counters()) {
        if (field.metric.empty()) continue;
        x.family(field.metric, field.role == CounterRole::level ? "gauge" : "counter", field.help);
        for (const auto& [labels, counts] : rows) x.sample(field.metric, labels, double(counts->*field.member));
    }
    constexpr DropGroup drops = Counts::drops();
    if (!drops.metric.empty()) {
        x.family(drops.metric, "counter", drops.help);
        for (const auto& [labels, counts] : rows) {
            if (!drops.by_cause) {
                x.sample(drops.metric, labels, double(sum_of_drops(*counts)));
                continue;
            }
            for (const auto& cause : Counts::counters())
                if (cause.role == CounterRole::drop)
                    x.sample(drops.metric, labels + "," + label("cause", cause.key), double(counts->*cause.member));
        }
    }
    for (const auto& field : Counts::times()) {
        if (field.metric.empty()) continue;
        x.family(field.metric, "counter", field.help);
        for (const auto& [labels, counts] : rows) x.sample(field.metric, labels, in_seconds(counts->*field.member));
    }
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

    Rows<SourceCounts> source_rows;
    for (const SourceReport& s : report.sources) source_rows.emplace_back(label("source", s.name), &s);
    expose_counts(x, source_rows);

    struct SourceMetric {
        const char* name;
        const char* type;
        const char* help;
        double (*value)(const SourceReport&);
    };
    static const SourceMetric per_source[] = {
        {"framepipe_source_frames_dropped_total", "counter",
         "Frames of the main branch lost (overflow, maximum age, stop, error), every cause.",
         [](const SourceReport& s) { return double(s.dropped()); }},
        {"framepipe_source_frames_filtered_total", "counter",
         "Frames of the main branch a stage chose not to pass on (not loss).",
         [](const SourceReport& s) { return double(s.filtered()); }},
        {"framepipe_source_frames_rejected_total", "counter", "Frames of the main branch refused as bad data.",
         [](const SourceReport& s) { return double(s.rejected()); }},
        {"framepipe_source_ended_early", "gauge", "1 when the input ended before its natural end (read error, cut short).",
         [](const SourceReport& s) { return s.ended_early.empty() ? 0.0 : 1.0; }},
        {"framepipe_source_signal_lost", "gauge", "1 while the source has no signal.",
         [](const SourceReport& s) { return s.signal_lost ? 1.0 : 0.0; }},
        {"framepipe_source_behind_real_time_seconds", "gauge", "Live sources: how far the output lags the media clock.",
         [](const SourceReport& s) { return in_seconds(s.behind_real_time); }},
    };
    for (const SourceMetric& m : per_source) {
        x.family(m.name, m.type, m.help);
        for (const SourceReport& s : report.sources) x.sample(m.name, label("source", s.name), m.value(s));
    }

    x.family("framepipe_end_to_end_latency_seconds", "summary",
             "Capture to the end of the last stage, per timed frame (all but the fastest streams).");
    for (const SourceReport& s : report.sources)
        x.summary("framepipe_end_to_end_latency_seconds", label("source", s.name), s.end_to_end);

    Rows<EdgeCounts> edge_rows;
    for (const SourceReport& s : report.sources)
        for (const EdgeReport& e : s.edges) edge_rows.emplace_back(label("source", s.name) + "," + label("to", e.to), &e);
    expose_counts(x, edge_rows);
    x.family("framepipe_edge_capacity_frames", "gauge", "Capacity of the edge into a stage.");
    for (const SourceReport& s : report.sources)
        for (const EdgeReport& e : s.edges)
            x.sample("framepipe_edge_capacity_frames", label("source", s.name) + "," + label("to", e.to),
                     double(e.capacity));

    // Per stage: counters, and latency summaries.
    const auto stage_labels = [](const SourceReport& s, const StageReport& st) {
        return label("source", s.name) + "," + label("stage", st.name);
    };
    Rows<StageCounts> stage_rows;
    for (const SourceReport& s : report.sources)
        for (const StageReport& st : s.stages) stage_rows.emplace_back(stage_labels(s, st), &st);
    expose_counts(x, stage_rows);
    x.family("framepipe_stage_output_stopped", "gauge", "1 when the stage's output stopped while the run goes on.");
    for (const SourceReport& s : report.sources)
        for (const StageReport& st : s.stages)
            x.sample("framepipe_stage_output_stopped", stage_labels(s, st), st.output_stopped.empty() ? 0.0 : 1.0);
    const auto per_stage_summary = [&](const char* name, const char* help, LatencySummary StageReport::*member) {
        x.family(name, "summary", help);
        for (const SourceReport& s : report.sources)
            for (const StageReport& st : s.stages) x.summary(name, stage_labels(s, st), st.*member);
    };
    per_stage_summary("framepipe_stage_service_seconds", "Time inside the stage, per timed frame.",
                      &StageReport::service);
    per_stage_summary("framepipe_stage_wait_seconds", "Time a frame waited in front of the stage.", &StageReport::wait);
    return x.take();
}

}  // namespace framepipe
