// Per-frame lineage (PipelineOptions::frames_path): exact enter and leave times with an injected clock, a record for
// every captured frame whose ending agrees with the report's counters, branch copies, CSV, and an unwritable path
// refused before anything opens.
#include "support/media.hpp"
#include "support/test_stages.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Passes even frames, filters odd ones out.
class EvenFrames final : public Stage {
public:
    EvenFrames() : Stage({.name = "evens", .read_only = true}) {}
    Outcome process(Frame& frame) override { return frame.sequence % 2 == 0 ? Outcome::pass : Outcome::drop; }
};

std::vector<json> read_jsonl(const std::string& path) {
    std::ifstream in(path);
    std::vector<json> records;
    for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));  // throws if not JSON
    return records;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {  // names without commas or quotes
    std::ifstream in(path);
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(in, line);) {
        REQUIRE(!line.empty());
        CHECK(line.back() == '\r');  // RFC 4180 line ends
        line.pop_back();
        std::vector<std::string> fields;
        std::stringstream split(line);
        for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
        if (!line.empty() && line.back() == ',') fields.emplace_back();
        rows.push_back(fields);
    }
    return rows;
}

const json* stage_of(const json& record, const std::string& name) {
    for (const json& stage : record["stages"])
        if (stage["stage"] == name) return &stage;
    return nullptr;
}

}  // namespace

TEST_CASE("lineage: a stage of known cost enters and leaves each frame exactly when the clock says, frame by frame") {
    TempDir dir;
    ManualClock clock;
    const int frames = 20;
    Pipeline pipeline({.clock = &clock, .frames_path = dir / "frames.jsonl"});
    pipeline.add_source(std::make_unique<CountingSource>(frames))
        .add(std::make_unique<TimedStage>("costly", clock, 5ms))
        .add(std::make_unique<EvenFrames>())
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());

    const std::vector<json> records = read_jsonl(dir / "frames.jsonl");
    REQUIRE(records.size() == frames);
    std::map<int, json> by_frame;
    for (const json& r : records) by_frame[r["frame"].get<int>()] = r;
    REQUIRE(by_frame.size() == frames);
    for (const auto& entry : by_frame) {  // not a structured binding: clang 14 cannot capture one (CAPTURE)
        const int k = entry.first;
        const json& r = entry.second;
        CAPTURE(r.dump());
        CHECK(r["source"] == "counting");
        CHECK(r["input"] == 0);
        CHECK(r["media_ms"].get<double>() == doctest::Approx(k));
        // Only 'costly' moves the clock, serially, from the run's start: frame k's service is [5k, 5k + 5] ms.
        const json* costly = stage_of(r, "costly");
        REQUIRE(costly != nullptr);
        CHECK((*costly)["start_ms"].get<double>() == doctest::Approx(5.0 * k).epsilon(1e-12));
        CHECK((*costly)["end_ms"].get<double>() == doctest::Approx(5.0 * k + 5).epsilon(1e-12));
        CHECK((*costly)["fate"] == "passed");
        CHECK(r["capture_ms"].get<double>() <= (*costly)["queued_ms"].get<double>());
        CHECK((*costly)["queued_ms"].get<double>() <= (*costly)["start_ms"].get<double>());
        const json* evens = stage_of(r, "evens");
        REQUIRE(evens != nullptr);
        CHECK((*evens)["queued_ms"].get<double>() == doctest::Approx(5.0 * k + 5).epsilon(1e-12));
        if (k % 2 == 0) {
            CHECK(r["end"] == "delivered");
            CHECK(r["end_at"] == "sink");
            REQUIRE(r["stages"].size() == 3);
            CHECK(r["stages"][2]["fate"] == "passed");
        } else {
            CHECK(r["end"] == "filtered");
            CHECK(r["end_at"] == "evens");
            CHECK(r["stages"].size() == 2);  // the sink never saw it
        }
    }
    CHECK(report.sources.at(0).stages.at(0).service.mean == 5ms);  // the report says the same
}

TEST_CASE("lineage: every captured frame has one record, and how each ended adds up to the report's counters") {
    TempDir dir;
    const int frames = 300;
    // A live source feeding a stalled writer through a one-frame drop_oldest edge. The writer holds its first frame
    // until 'work' starts its 6th, so at least 5 frames were pushed at an edge that holds 1 while the writer held 1:
    // at least 3 of them are dropped there, however the threads are scheduled. 'work' is sure to get 6 frames: its own
    // edge drops the oldest, so the last 8 frames that enter it survive. The pool may run dry: drops at capture.
    auto sink = std::make_unique<RecordingSink>(RecordingSink::Options{.stall_until_released = true});
    RecordingSink& writer = *sink;
    Pipeline pipeline({.frames_path = dir / "frames.jsonl"});
    pipeline.add_source(std::make_unique<CountingSource>(frames, /*live=*/true))
        .add(std::make_unique<ReleaseAfter>("work", 6, writer), {.capacity = 8, .overflow = Overflow::drop_oldest})
        .add(std::move(sink), {.capacity = 1, .overflow = Overflow::drop_oldest});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);

    const std::vector<json> records = read_jsonl(dir / "frames.jsonl");
    CHECK(records.size() == source.captured);
    std::map<std::string, std::uint64_t> ends;
    std::set<std::uint64_t> seen;
    for (const json& r : records) {
        ends[r["end"].get<std::string>() + "@" + (r["end_at"].is_null() ? "" : r["end_at"].get<std::string>())]++;
        seen.insert(r["frame"].get<std::uint64_t>());
        for (const json& stage : r["stages"])
            if (!stage["start_ms"].is_null()) CHECK(stage["start_ms"].get<double>() <= stage["end_ms"].get<double>());
    }
    CHECK(seen.size() == records.size());  // one record per frame
    CAPTURE(json(ends).dump());
    CHECK(ends["delivered@sink"] == source.delivered);
    CHECK(ends["dropped_at_capture@"] == source.dropped_at_capture);
    std::uint64_t accounted = source.delivered + source.dropped_at_capture;
    for (const EdgeReport& edge : source.edges) {  // both edges drop the oldest frame when full (live input)
        CHECK(ends["dropped_oldest@" + edge.to] == edge.dropped_oldest);
        accounted += edge.dropped_oldest;
    }
    CHECK(accounted == source.captured);  // nothing else happened to them
    CHECK(ends["dropped_oldest@sink"] >= 3);
}

TEST_CASE("lineage: a branch that copies a shared frame gets a record of its own for the stages after the copy") {
    TempDir dir;
    const int frames = 60;
    Pipeline pipeline({.frames_path = dir / "frames.jsonl"});
    pipeline.add_source(std::make_unique<CountingSource>(frames))
        .add(std::make_unique<SpinStage>("left", false, 20us))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "left_sink"}))
        .add(std::make_unique<SpinStage>("right", false, 20us), {}, std::string(kFromSource))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "right_sink"}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    const std::uint64_t copies = source.stages.at(0).copied + source.stages.at(2).copied;

    std::map<std::uint64_t, int> originals;
    std::uint64_t copy_records = 0;
    for (const json& r : read_jsonl(dir / "frames.jsonl")) {
        CAPTURE(r.dump());
        if (r.value("copy", false)) {
            ++copy_records;
            // It starts at the stage that copied: the stages before are in the original's record.
            REQUIRE(!r["stages"].empty());
            const std::string first = r["stages"][0]["stage"];
            CHECK((first == "left" || first == "right"));
            continue;
        }
        ++originals[r["frame"].get<std::uint64_t>()];
    }
    CHECK(originals.size() == frames);
    for (const auto& [frame, count] : originals) CHECK(count == 1);
    CHECK(copy_records == copies);
    CHECK(copies > 0);  // the two branches each write to the frames they share
}

TEST_CASE("lineage: a name ending in .csv gets a CSV file, a row per frame per stage, times in milliseconds") {
    TempDir dir;
    ManualClock clock;
    const int frames = 8;
    Pipeline pipeline({.clock = &clock, .frames_path = dir / "frames.CSV"});
    pipeline.add_source(std::make_unique<CountingSource>(frames))
        .add(std::make_unique<TimedStage>("costly", clock, 2ms))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    REQUIRE(pipeline.run().ok());
    const auto rows = read_csv(dir / "frames.CSV");
    REQUIRE(rows.size() == 1 + frames * 2);
    const std::vector<std::string> header{"source", "input",     "frame",    "copy",   "capture_ms", "media_ms", "end",
                                          "end_at", "stage",     "queued_ms", "start_ms", "end_ms",   "fate"};
    CHECK(rows[0] == header);
    std::map<std::string, int> per_stage;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        const auto& row = rows[i];
        REQUIRE(row.size() == header.size());
        CHECK(row[0] == "counting");
        CHECK(row[6] == "delivered");
        CHECK(row[12] == "passed");
        ++per_stage[row[8]];
        if (row[8] == "costly") {
            const int k = std::stoi(row[2]);
            CHECK(row[10] == fmt::format("{:.3f}", 2.0 * k));
            CHECK(row[11] == fmt::format("{:.3f}", 2.0 * k + 2));
        }
    }
    CHECK(per_stage["costly"] == frames);
    CHECK(per_stage["sink"] == frames);
}

TEST_CASE("lineage: a frames file that cannot be written is a configuration error before any source or stage opens") {
    TempDir dir;
    Lifecycle lifecycle;
    auto source_owner = std::make_unique<CountingSource>(10);
    CountingSource& source = *source_owner;
    Pipeline pipeline({.frames_path = dir / "no-such-folder/frames.jsonl"});
    pipeline.add_source(std::move(source_owner))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.lifecycle = &lifecycle}));
    try {
        (void)pipeline.run();
        FAIL("run() should have refused the path");
    } catch (const ConfigError& e) {
        const std::string message = e.what();
        CHECK(message.find("cannot write the frames file '" + (dir / "no-such-folder/frames.jsonl") + "'") !=
              std::string::npos);
        CHECK(message.find("No such file or directory") != std::string::npos);
    }
    CHECK(lifecycle.opened == 0);
    CHECK(source.newest == -1);  // nothing was read
}
