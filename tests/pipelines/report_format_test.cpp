// The report's counters as the outputs carry them: every listed counter (counters.hpp) of every kind reads back from
// JSON with its value, is in the schema, and every edge drop cause and overflow policy reaches Prometheus and the schema.
#include "support/media.hpp"

#include <framepipe/report_io.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

using namespace framepipe;
using framepipe::test::TempDir;

namespace {

// Every listed counter and time gets a value of its own, so a field written under one key and read from another shows.
template <class Counts>
void number_every_field(Counts& counts, std::uint64_t first) {
    std::uint64_t next = first;
    for (const auto& field : Counts::counters()) counts.*field.member = next++;
    for (const auto& field : Counts::times()) counts.*field.member = std::chrono::milliseconds(next++);
}

template <class Counts>
void check_same_fields(const Counts& got, const Counts& want) {
    for (const auto& field : Counts::counters()) {
        CAPTURE(field.key);
        CHECK(got.*field.member == want.*field.member);
    }
    for (const auto& field : Counts::times()) {
        CAPTURE(field.key);
        CHECK(got.*field.member == want.*field.member);
    }
}

RunReport numbered_report() {
    RunReport report;
    report.finished = true;
    SourceReport source;
    source.name = "camera";
    number_every_field<SourceCounts>(source, 1000);
    EdgeReport edge;
    edge.from = "camera";
    edge.to = "sink";
    edge.capacity = 4;
    number_every_field<EdgeCounts>(edge, 2000);
    StageReport stage;
    stage.name = "sink";
    number_every_field<StageCounts>(stage, 3000);
    source.edges.push_back(edge);
    source.stages.push_back(stage);
    report.sources.push_back(source);
    return report;
}

nlohmann::json schema() {
    std::ifstream in(std::string(FRAMEPIPE_SOURCE_DIR) + "/include/framepipe/report.schema.json");
    return nlohmann::json::parse(in);
}

// The schema's properties of one kind's objects, and of its drop group when it has one.
template <class Counts>
void check_schema_lists(const nlohmann::json& object_schema) {
    const auto& properties = object_schema.at("properties");
    constexpr DropGroup group = Counts::drops();
    for (const auto& field : Counts::counters()) {
        CAPTURE(field.key);
        const bool grouped = field.role == CounterRole::drop && !group.json_group.empty();
        const auto& holder = grouped ? properties.at(std::string(group.json_group)).at("properties") : properties;
        CHECK(holder.contains(std::string(field.key)));
    }
    for (const auto& field : Counts::times()) {
        CAPTURE(field.key);
        CHECK(properties.contains(std::string(field.key)));
    }
}

}  // namespace

TEST_CASE("report format: every listed counter of a source, edge and stage reads back from JSON with its value") {
    TempDir dir;
    const RunReport report = numbered_report();
    write_report_json(report, dir / "run.json");
    const RunReport back = read_report_json(dir / "run.json");
    REQUIRE(back.sources.size() == 1);
    check_same_fields<SourceCounts>(back.sources[0], report.sources[0]);
    REQUIRE(back.sources[0].edges.size() == 1);
    check_same_fields<EdgeCounts>(back.sources[0].edges[0], report.sources[0].edges[0]);
    REQUIRE(back.sources[0].stages.size() == 1);
    check_same_fields<StageCounts>(back.sources[0].stages[0], report.sources[0].stages[0]);
}

TEST_CASE("report format: the schema lists every counter, drop cause and overflow policy") {
    const nlohmann::json root = schema();
    const auto& source = root.at("properties").at("sources").at("items");
    check_schema_lists<SourceCounts>(source);
    check_schema_lists<EdgeCounts>(source.at("properties").at("edges").at("items"));
    check_schema_lists<StageCounts>(source.at("properties").at("stages").at("items"));
    const auto& policies = source.at("properties").at("edges").at("items").at("properties").at("overflow").at("enum");
    for (const OverflowPolicy& policy : overflow_policies) {
        CAPTURE(policy.name);
        CHECK(std::find(policies.begin(), policies.end(), std::string(policy.name)) != policies.end());
    }
}

TEST_CASE("report format: Prometheus has one sample per edge drop cause, with its count") {
    const RunReport report = numbered_report();
    const std::string text = report_to_prometheus(report);
    const EdgeReport& edge = report.sources[0].edges[0];
    for (const auto& field : EdgeCounts::counters()) {
        if (field.role != CounterRole::drop) continue;
        CAPTURE(field.key);
        const std::string line = "framepipe_edge_frames_dropped_total{source=\"camera\",to=\"sink\",cause=\"" +
                                 std::string(field.key) + "\"} " + std::to_string(edge.*field.member) + "\n";
        CHECK(text.find(line) != std::string::npos);
    }
}

TEST_CASE("report format: the stage CSV has a header and one row per stage, names quoted when they hold a comma") {
    RunReport report = numbered_report();
    report.sources[0].stages[0].name = "say \"hi\", then";
    const std::string csv = report_to_stage_csv(report);
    const std::string header = csv.substr(0, csv.find("\r\n"));
    CHECK(header.rfind("source,stage,workers,processed,passed,filtered,", 0) == 0);
    CHECK(header.find(",dropped,busy_ms,service_p50_ms,") != std::string::npos);
    const std::string row = csv.substr(header.size() + 2);
    CHECK(row.rfind("camera,\"say \"\"hi\"\", then\",1,3000,3001,3002,", 0) == 0);
    CHECK(row.find("\r\n") == row.size() - 2);  // one row
}

TEST_CASE("report format: a framepipe-report/2 file's filtered, rejected and ended frames, then in the drop group, read "
          "back as filtered and rejected, not as dropped") {
    TempDir dir;
    RunReport report = numbered_report();
    write_report_json(report, dir / "run.json");
    nlohmann::json root;
    {
        std::ifstream in(dir / "run.json");
        root = nlohmann::json::parse(in);
    }
    root["schema"] = "framepipe-report/2";
    auto& stage = root["sources"][0]["stages"][0];
    for (const char* moved : {"filtered", "rejected", "ended"}) {
        stage["dropped"][moved] = stage[moved];
        stage.erase(moved);
    }
    std::ofstream(dir / "old.json") << root.dump();
    const RunReport back = read_report_json(dir / "old.json");
    const StageReport& want = report.sources[0].stages[0];
    const StageReport& got = back.sources.at(0).stages.at(0);
    CHECK(got.filtered == want.filtered);
    CHECK(got.rejected == want.rejected);
    CHECK(got.ended == want.ended);
    CHECK(got.dropped() == want.failed + want.discarded);
    CHECK(got.filtered_total() == want.filtered + want.ended);
}

TEST_CASE("report format: the summary says per cause where frames were dropped, filtered and rejected") {
    RunReport report = numbered_report();
    SourceReport& s = report.sources[0];
    static_cast<SourceCounts&>(s) = SourceCounts{};
    static_cast<EdgeCounts&>(s.edges[0]) = EdgeCounts{};
    static_cast<StageCounts&>(s.stages[0]) = StageCounts{};
    s.captured = 100;
    s.edges[0].pushed = 100;
    s.edges[0].delivered = 90;
    s.edges[0].dropped_oldest = 7;
    s.edges[0].expired = 3;
    s.edges[0].max_age = std::chrono::milliseconds(250);
    s.stages[0].processed = 90;
    s.stages[0].filtered = 60;
    s.stages[0].rejected = 2;
    s.stages[0].passed = 28;
    s.delivered = 28;
    REQUIRE(report.balanced());
    CHECK(s.dropped() == 10);
    CHECK(s.filtered() == 60);
    CHECK(s.rejected() == 2);
    const std::string summary = format_summary(report);
    CAPTURE(summary);
    CHECK(summary.find("100 captured, 28 delivered, 60 filtered, 2 rejected, 10 dropped") != std::string::npos);
    CHECK(summary.find("  60 filtered at 'sink': the stage chose not to pass it on\n") != std::string::npos);
    CHECK(summary.find("  7 dropped at camera -> sink: the edge was full: the oldest frame was evicted (drop_oldest)\n") !=
          std::string::npos);
    CHECK(summary.find("  3 dropped at camera -> sink: older than max_age (250 ms) when the stage reached it\n") !=
          std::string::npos);
    CHECK(summary.find("  2 rejected at 'sink': bad or undecodable data\n") != std::string::npos);
    const std::string prometheus = report_to_prometheus(report);
    CHECK(prometheus.find("framepipe_source_frames_dropped_total{source=\"camera\"} 10") != std::string::npos);
    CHECK(prometheus.find("framepipe_source_frames_filtered_total{source=\"camera\"} 60") != std::string::npos);
    CHECK(prometheus.find("framepipe_stage_frames_filtered_total{source=\"camera\",stage=\"sink\"} 60") !=
          std::string::npos);
}

namespace {

std::string page_of(const RunReport& report, const TempDir& dir) {
    write_report_html(report, dir / "run.html");
    std::ifstream in(dir / "run.html");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("report page: a 1-hour run's page stays small, drawn in at most 480 columns whatever the samples") {
    TempDir dir;
    RunReport report;
    report.finished = true;
    report.wall_time = std::chrono::hours(1);
    for (int s = 0; s < 2; ++s) {
        SourceReport source;
        source.name = fmt::format("camera{}", s);
        for (int i = 0; i < 8; ++i) {
            EdgeReport edge;
            edge.from = i == 0 ? source.name : fmt::format("stage{}", i - 1);
            edge.to = fmt::format("stage{}", i);
            edge.capacity = 4;
            source.edges.push_back(edge);
            StageReport stage;
            stage.name = edge.to;
            source.stages.push_back(stage);
        }
        report.sources.push_back(source);
    }
    // The most samples a run keeps (4096, then thinned), every one different from its neighbour: the worst case.
    for (int k = 0; k < 4096; ++k) {
        TimelineSample sample;
        sample.at = std::chrono::milliseconds(879) * k;
        for (int s = 0; s < 2; ++s) {
            TimelineSource t;
            t.delivered = static_cast<std::uint64_t>(k) * 26;
            t.end_to_end_p50 = std::chrono::milliseconds(20 + k % 7);
            t.end_to_end_p99 = std::chrono::milliseconds(40 + k % 13);
            for (int i = 0; i < 8; ++i) {
                t.edge_depth.push_back(static_cast<std::uint32_t>((k + i) % 5));
                t.stage_busy.push_back(static_cast<float>((k * 7 + i) % 10) / 10.0F);
            }
            sample.sources.push_back(t);
        }
        report.timeline.push_back(sample);
    }
    const std::string page = page_of(report, dir);
    CHECK(page.size() < 1'500'000);
    // Each strip row has at most one rectangle per column.
    CHECK(occurrences(page, "<rect") <= 2 * 2 * 8 * 480 + 100);
    CHECK(occurrences(page, "How full each edge was") == 2);
}

TEST_CASE("report page: the verdict box shows each limit's figure and what to try, and a full edge reads as full") {
    TempDir dir;
    RunReport report = numbered_report();
    report.sources[0].edges[0].capacity = 2;
    report.limits.push_back({LimitKind::writer, "camera", "sink", "", "busy 98% of its 1 worker", "a faster disk"});
    for (int k = 0; k < 20; ++k) {
        TimelineSample sample;
        sample.at = std::chrono::milliseconds(100) * k;
        TimelineSource t;
        t.edge_depth.push_back(k < 10 ? 0 : 2);  // empty, then full
        t.stage_busy.push_back(k < 10 ? 0.0F : 1.0F);
        sample.sources.push_back(t);
        report.timeline.push_back(sample);
    }
    const std::string page = page_of(report, dir);
    CHECK(page.find("<b>The output &#39;sink&#39; limits throughput</b>") != std::string::npos);
    CHECK(page.find("Measured: busy 98% of its 1 worker") != std::string::npos);
    CHECK(page.find("Try: a faster disk") != std::string::npos);
    CHECK(page.find("camera -&gt; sink (2)") != std::string::npos);
    CHECK(page.find(R"(fill="#b2182b"><title>100%</title>)") != std::string::npos);  // full
    CHECK(page.find(R"(fill="#eef2f7"><title>0%</title>)") != std::string::npos);    // empty
}
