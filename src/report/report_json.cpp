#include "text_escape.hpp"

#include <framepipe/error.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace framepipe {
namespace {

using json = nlohmann::ordered_json;

Duration from_ms(double v) { return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(v)); }

json latency(const LatencySummary& l) {
    return {{"count", l.count}, {"mean", in_ms(l.mean)}, {"p50", in_ms(l.p50)}, {"p90", in_ms(l.p90)}, {"p95", in_ms(l.p95)},
            {"p99", in_ms(l.p99)},
            {"max", in_ms(l.max)}};
}
LatencySummary latency_from(const json& j) {
    LatencySummary l;
    l.count = j.at("count").get<std::uint64_t>();
    l.mean = from_ms(j.at("mean"));
    l.p50 = from_ms(j.at("p50"));
    l.p90 = from_ms(j.at("p90"));
    l.p95 = from_ms(j.value("p95", 0.0));  // from framepipe-report/3
    l.p99 = from_ms(j.at("p99"));
    l.max = from_ms(j.at("max"));
    return l;
}

// The counters and times of a counts struct (see counters.hpp), written into / read from `node`: in list order, the
// drop causes together in their group (with a "total") where the first one is listed.
template <class Counts>
void write_counts(json& node, const Counts& counts) {
    constexpr DropGroup group = Counts::drops();
    bool group_written = false;
    for (const auto& field : Counts::counters()) {
        if (field.role != CounterRole::drop || group.json_group.empty()) {
            node[std::string(field.key)] = counts.*field.member;
            continue;
        }
        if (group_written) continue;
        json& causes = node[std::string(group.json_group)];
        causes = json::object();
        for (const auto& cause : Counts::counters())
            if (cause.role == CounterRole::drop) causes[std::string(cause.key)] = counts.*cause.member;
        causes["total"] = sum_of_drops(counts);
        group_written = true;
    }
    for (const auto& field : Counts::times()) node[std::string(field.key)] = in_ms(counts.*field.member);
}

template <class Counts>
void read_counts(const json& node, Counts& counts) {
    constexpr DropGroup group = Counts::drops();
    for (const auto& field : Counts::counters()) {
        const bool grouped = field.role == CounterRole::drop && !group.json_group.empty();
        const std::string key(field.key);
        // Before framepipe-report/3 the drop group also held the frames a stage filtered, rejected or ended on.
        const bool moved = !grouped && !group.json_group.empty() && !node.contains(key) &&
                           node.contains(std::string(group.json_group)) &&
                           node.at(std::string(group.json_group)).contains(key);
        const json& holder = grouped || moved ? node.at(std::string(group.json_group)) : node;
        counts.*field.member = field.required ? holder.at(key).get<std::uint64_t>()
                                              : holder.value(key, std::uint64_t{0});  // absent before it existed
    }
    for (const auto& field : Counts::times()) counts.*field.member = from_ms(node.at(std::string(field.key)));
}

// Every string in the tree made displayable (see text_escape.hpp): names come from file names, which need not be UTF-8,
// and nlohmann's dump throws on invalid UTF-8.
void make_displayable(json& node) {
    if (node.is_string()) {
        const auto& text = node.get_ref<const std::string&>();
        if (!is_displayable(text)) node = displayable(text);
    } else if (node.is_structured()) {
        for (auto& child : node) make_displayable(child);
    }
}

bool is_report_schema(const std::string& schema) {
    return schema == kReportSchema || schema == "framepipe-report/2" || schema == "framepipe-report/1";
}

}  // namespace

std::string report_to_json(const RunReport& report) {
    json root;
    root["schema"] = kReportSchema;
    root["wall_time_ms"] = in_ms(report.wall_time);
    root["finished"] = report.finished;
    root["stopped"] = report.stopped;
    root["drain_timed_out"] = report.drain_timed_out;
    root["profiled"] = report.profiled;
    root["threads"] = report.threads;
    root["balanced"] = report.balanced();
    root["verdict"] = report.verdict;
    root["machine"] = report.machine ? json{{"cores", report.machine->cores},
                                            {"busy_cores", report.machine->busy_cores},
                                            {"process_cores", report.machine->process_cores},
                                            {"other_cores", report.machine->other_cores()}}
                                     : json(nullptr);
    json limits = json::array();
    for (const Limit& l : report.limits)
        limits.push_back({{"kind", std::string(to_string(l.kind))},
                          {"source", l.source},
                          {"stage", l.stage},
                          {"branch", l.branch},
                          {"figure", l.figure},
                          {"advice", l.advice}});
    root["limits"] = limits;
    if (report.error)
        root["error"] = {{"source", report.error->source},
                         {"stage", report.error->stage},
                         {"frame", report.error->frame ? json(*report.error->frame) : json(nullptr)},
                         {"message", report.error->message}};
    else
        root["error"] = nullptr;
    root["timeline_interval_ms"] = in_ms(report.timeline_interval);
    json sources = json::array();
    for (const SourceReport& s : report.sources) {
        json src;
        src["name"] = s.name;
        src["live"] = s.live;
        src["stated_fps"] = s.stated_fps;
        src["expected_frames"] = s.expected_frames ? json(*s.expected_frames) : json(nullptr);
        src["expected_is_estimate"] = s.expected_is_estimate;
        write_counts<SourceCounts>(src, s);
        src["dropped"] = s.dropped();
        src["filtered"] = s.filtered();
        src["rejected"] = s.rejected();
        src["queued"] = s.queued();
        src["fps"] = s.fps();
        src["pool"] = {{"capacity", s.pool_capacity}, {"peak", s.pool_peak}};
        src["end_to_end_ms"] = latency(s.end_to_end);
        src["signal_lost"] = s.signal_lost;
        src["damaged"] = s.damaged();
        src["ended_early"] = s.ended_early.empty() ? json(nullptr) : json(s.ended_early);
        src["behind_real_time_ms"] = s.live ? json{{"last", in_ms(s.behind_real_time)}, {"max", in_ms(s.behind_real_time_max)}}
                                            : json(nullptr);
        json edges = json::array();
        for (const EdgeReport& e : s.edges) {
            json edge = {{"from", e.from},
                         {"from_stage", e.from_stage ? json(*e.from_stage) : json(nullptr)},
                         {"to", e.to},
                         {"capacity", e.capacity},
                         {"overflow", std::string(to_string(e.overflow))},
                         {"max_age_ms", e.max_age ? json(in_ms(*e.max_age)) : json(nullptr)}};
            write_counts<EdgeCounts>(edge, e);
            edge["full_share"] = e.full_share;
            edge["empty_share"] = e.empty_share;
            edges.push_back(std::move(edge));
        }
        src["edges"] = edges;
        src["main_branch_end"] = s.main_branch;
        json stages = json::array();
        for (const StageReport& st : s.stages) {
            json stage = {{"name", st.name},
                          {"parallel", st.parallel},
                          {"workers", st.concurrency},
                          {"restores_order", st.restores_order},
                          {"blocking_io", st.blocking_io}};
            write_counts<StageCounts>(stage, st);
            stage["output_stopped"] = st.output_stopped.empty() ? json(nullptr) : json(st.output_stopped);
            stage["service_ms"] = latency(st.service);
            stage["wait_ms"] = latency(st.wait);
            stage["utilisation"] = st.utilisation;
            stage["fps"] = st.fps;
            stages.push_back(std::move(stage));
        }
        src["stages"] = stages;
        sources.push_back(src);
    }
    root["sources"] = sources;
    json timeline = json::array();
    for (const TimelineSample& sample : report.timeline) {
        json entry;
        entry["t_ms"] = in_ms(sample.at);
        json per_source = json::array();
        for (const TimelineSource& t : sample.sources)
            per_source.push_back({{"captured", t.captured},
                                  {"delivered", t.delivered},
                                  {"dropped", t.dropped},
                                  {"e2e_p50_ms", in_ms(t.end_to_end_p50)},
                                  {"e2e_p99_ms", in_ms(t.end_to_end_p99)},
                                  {"edge_depth", t.edge_depth},
                                  {"stage_busy", t.stage_busy}});
        entry["sources"] = per_source;
        timeline.push_back(entry);
    }
    root["timeline"] = timeline;
    make_displayable(root);
    return root.dump(2);
}

void write_report_json(const RunReport& report, const std::string& path) {
    const std::string text = report_to_json(report);  // before the file is opened: a failure leaves no empty file
    std::ofstream out(path);
    out << text << '\n';
    if (!out) throw Error(fmt::format("cannot write the report '{}'", path));
}

RunReport read_report_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(fmt::format("cannot read the report '{}'", path));
    json root;
    try {
        root = json::parse(in);
    } catch (const json::parse_error& e) {
        throw ConfigError(fmt::format("'{}' is not JSON: {}", path, e.what()));
    }
    if (!root.is_object() || (!is_report_schema(root.value("schema", ""))))
        throw ConfigError(fmt::format("'{}' is not a framepipe report ({} expected)", path, kReportSchema));
    try {
        RunReport r;
        r.wall_time = from_ms(root.at("wall_time_ms"));
        r.finished = root.at("finished");
        r.stopped = root.at("stopped");
        r.drain_timed_out = root.at("drain_timed_out");
        r.profiled = root.at("profiled");
        r.threads = root.at("threads");
        r.verdict = root.at("verdict");
        if (root.contains("machine") && !root.at("machine").is_null()) {  // from framepipe-report/3
            const json& m = root.at("machine");
            r.machine = MachineReport{m.at("cores"), m.at("busy_cores"), m.at("process_cores")};
        }
        for (const json& l : root.value("limits", json::array())) {
            Limit limit;
            limit.kind = parse_limit_kind(l.at("kind").get<std::string>()).value_or(LimitKind::stage);
            limit.source = l.at("source");
            limit.stage = l.at("stage");
            limit.branch = l.at("branch");
            limit.figure = l.at("figure");
            limit.advice = l.at("advice");
            r.limits.push_back(std::move(limit));
        }
        if (!root.at("error").is_null()) {
            const json& e = root.at("error");
            r.error = RunError{e.at("source"), e.at("stage"),
                               e.at("frame").is_null() ? std::nullopt : std::optional<std::uint64_t>(e.at("frame")),
                               e.at("message")};
        }
        r.timeline_interval = from_ms(root.at("timeline_interval_ms"));
        for (const json& src : root.at("sources")) {
            SourceReport s;
            s.name = src.at("name");
            s.live = src.at("live");
            s.stated_fps = src.value("stated_fps", 0.0);
            if (!src.at("expected_frames").is_null()) s.expected_frames = src.at("expected_frames").get<std::int64_t>();
            s.expected_is_estimate = src.at("expected_is_estimate");
            read_counts<SourceCounts>(src, s);
            s.pool_capacity = src.at("pool").at("capacity");
            s.pool_peak = src.at("pool").at("peak");
            s.end_to_end = latency_from(src.at("end_to_end_ms"));
            s.signal_lost = src.at("signal_lost");
            if (src.contains("ended_early") && !src.at("ended_early").is_null()) s.ended_early = src.at("ended_early");
            if (!src.at("behind_real_time_ms").is_null()) {
                s.behind_real_time = from_ms(src.at("behind_real_time_ms").at("last"));
                s.behind_real_time_max = from_ms(src.at("behind_real_time_ms").at("max"));
            }
            for (const json& e : src.at("edges")) {
                EdgeReport edge;
                edge.from = e.at("from");
                // Version 1 had no branches: each edge came from the stage before it.
                if (!e.contains("from_stage"))
                    edge.from_stage = s.edges.empty() ? std::nullopt : std::optional<std::size_t>(s.edges.size() - 1);
                else if (!e.at("from_stage").is_null())
                    edge.from_stage = e.at("from_stage").get<std::size_t>();
                edge.to = e.at("to");
                edge.capacity = e.at("capacity");
                edge.overflow = parse_overflow(e.at("overflow").get<std::string>()).value_or(Overflow::block);
                if (!e.at("max_age_ms").is_null()) edge.max_age = from_ms(e.at("max_age_ms"));
                read_counts<EdgeCounts>(e, edge);
                edge.full_share = e.at("full_share");
                edge.empty_share = e.value("empty_share", 0.0);
                s.edges.push_back(edge);
            }
            for (const json& st : src.at("stages")) {
                StageReport stage;
                stage.name = st.at("name");
                stage.parallel = st.at("parallel");
                stage.concurrency = st.at("workers");
                stage.restores_order = st.at("restores_order");
                stage.blocking_io = st.at("blocking_io");
                read_counts<StageCounts>(st, stage);
                if (st.contains("output_stopped") && !st.at("output_stopped").is_null())
                    stage.output_stopped = st.at("output_stopped");
                stage.service = latency_from(st.at("service_ms"));
                stage.wait = latency_from(st.at("wait_ms"));
                stage.utilisation = st.at("utilisation");
                stage.fps = st.at("fps");
                s.stages.push_back(stage);
            }
            // Version 1 had no branches: the chain's last stage ended its only branch.
            s.main_branch = src.contains("main_branch_end") ? src.at("main_branch_end").get<std::size_t>()
                                                            : (s.stages.empty() ? 0 : s.stages.size() - 1);
            r.sources.push_back(std::move(s));
        }
        for (const json& entry : root.at("timeline")) {
            TimelineSample sample;
            sample.at = from_ms(entry.at("t_ms"));
            for (const json& t : entry.at("sources")) {
                TimelineSource ts;
                ts.captured = t.at("captured");
                ts.delivered = t.at("delivered");
                ts.dropped = t.at("dropped");
                ts.end_to_end_p50 = from_ms(t.at("e2e_p50_ms"));
                ts.end_to_end_p99 = from_ms(t.at("e2e_p99_ms"));
                ts.edge_depth = t.at("edge_depth").get<std::vector<std::uint32_t>>();
                ts.stage_busy = t.at("stage_busy").get<std::vector<float>>();
                sample.sources.push_back(std::move(ts));
            }
            r.timeline.push_back(std::move(sample));
        }
        return r;
    } catch (const json::exception& e) {
        throw ConfigError(fmt::format("'{}' is not a complete framepipe report: {}", path, e.what()));
    }
}

}  // namespace framepipe
