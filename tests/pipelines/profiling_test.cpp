// Profiling: timings attributed where they happen (with an injected clock), the latency identity per frame, the
// JSON report against its schema, the trace, the verdict, and the accounting in the report.
#include "support/media.hpp"
#include "support/stress.hpp"
#include "support/test_stages.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/report_io.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <semaphore>
#include <set>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

// Lets frames through one at a time, when the test says so (on a dedicated thread, as a stalled writer would be).
class Gate final : public Stage {
public:
    explicit Gate(std::string name) : Stage({.name = std::move(name), .needs_ordered_input = true, .blocking_io = true}) {}
    Outcome process(Frame&) override {
        open_.acquire();
        return Outcome::pass;
    }
    void let_one_through() { open_.release(); }

private:
    std::counting_semaphore<1000> open_{0};
};

// Keeps each frame's spans as the sink starts processing it.
class SpanRecorder final : public Stage {
public:
    SpanRecorder() : Stage({.name = "record", .needs_ordered_input = true}) {}
    void open(const StageContext& context) override { clock_ = context.clock; position_ = context.position; }
    Outcome process(Frame& frame) override {
        const TimePoint now = clock_->now();
        std::lock_guard lock(mutex_);
        frames_.push_back({frame.capture_time, now, frame.spans});
        return Outcome::pass;
    }
    struct Seen {
        TimePoint capture, sink_start;
        std::array<StageSpan, kMaxStagesPerLane> spans;
    };
    std::vector<Seen> frames() {
        std::lock_guard lock(mutex_);
        return frames_;
    }
    std::size_t position() const { return position_; }

private:
    const Clock* clock_ = nullptr;
    std::size_t position_ = 0;
    std::mutex mutex_;
    std::vector<Seen> frames_;
};

}  // namespace

TEST_CASE("profiling: a stage whose service time is known shows exactly that time") {
    ManualClock clock;
    Pipeline pipeline({.clock = &clock, .profile_spacing = {}});  // every frame timed, however close their captures
    pipeline.add_source(std::make_unique<CountingSource>(40))
        .add(std::make_unique<TimedStage>("costly", clock, 5ms))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const StageReport& costly = report.sources.at(0).stages.at(0);
    CHECK(costly.service.count == 40);
    CHECK(costly.service.max == 5ms);
    CHECK(costly.service.mean == 5ms);
    CHECK(costly.service.p50.count() == doctest::Approx(5e6).epsilon(0.07));  // histogram resolution
    CHECK(costly.busy == 40 * 5ms);
    CHECK(report.sources.at(0).stages.at(1).service.max == 0ms);  // the sink did not take clock time
}

TEST_CASE("profiling: waiting is attributed to the edge where frames waited, and latency adds up frame by frame") {
    ManualClock clock;
    const int frames = 12;
    auto gate_owner = std::make_unique<Gate>("writer");
    Gate& gate = *gate_owner;
    auto recorder_owner = std::make_unique<SpanRecorder>();
    SpanRecorder& recorder = *recorder_owner;
    auto source_owner = std::make_unique<CountingSource>(frames);
    CountingSource& source = *source_owner;
    Pipeline pipeline({.clock = &clock, .profile_spacing = {}});  // all frames are captured at one simulated instant
    pipeline.add_source(std::move(source_owner))
        .add(std::make_unique<SpinStage>("prepare", false), {.capacity = 1})
        .add(std::move(gate_owner), {.capacity = static_cast<std::size_t>(frames)})
        .add(std::move(recorder_owner));
    std::thread driver([&] {
        // Once every frame is captured and has passed 'prepare' (it is all queued before the gate), open the gate one
        // frame at a time, 10 ms of injected time apart.
        while (source.newest.load() < frames - 1) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(50ms);
        for (int i = 0; i < frames; ++i) {
            if (i > 0) clock.advance(10ms);
            gate.let_one_through();
        }
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.stages.at(0).wait.max == 0ms);                 // nothing waited in the edge into 'prepare'
    CHECK(s.stages.at(1).wait.max == (frames - 1) * 10ms);  // the last frame waited behind every other at the gate
    CHECK(s.stages.at(1).wait.count == static_cast<std::uint64_t>(frames));
    CHECK(s.end_to_end.max == (frames - 1) * 10ms);
    // Per frame: capture to the sink's start is exactly the sum of every edge wait and every service time before it.
    const auto seen = recorder.frames();
    REQUIRE(seen.size() == static_cast<std::size_t>(frames));
    for (const auto& f : seen) {
        Duration sum{};
        for (std::size_t i = 0; i < recorder.position(); ++i) sum += f.spans[i].wait() + f.spans[i].service();
        CHECK(f.spans[0].queued == f.capture);
        CHECK(f.sink_start - f.capture == sum + (f.sink_start - f.spans[recorder.position()].queued));
    }
}

namespace {

// Notes which frames the engine timed, and lets the source read the next.
class TimedFramesSink final : public Stage {
public:
    explicit TimedFramesSink(std::atomic<std::int64_t>& taken) : Stage({.name = "sink"}), taken_(taken) {}
    Outcome process(Frame& frame) override {
        if (frame.timed) timed_.push_back(frame.sequence);
        taken_.fetch_add(1);
        return Outcome::pass;
    }
    std::vector<std::uint64_t> timed_;

private:
    std::atomic<std::int64_t>& taken_;
};

}  // namespace

TEST_CASE("profiling: frames closer than profile_spacing are timed one per spacing, and busy time counts all") {
    // Frame k is captured at 1 + 3k us (1 us to read it, after 2 us in 'work' for the frame before). With a spacing of
    // 10 us, the frames timed are 0, 4, 8, ... 36: each the first captured 10 us or more after the last timed one.
    ManualClock clock;
    std::atomic<std::int64_t> taken{0};
    auto sink_owner = std::make_unique<TimedFramesSink>(taken);
    TimedFramesSink& sink = *sink_owner;
    Pipeline pipeline({.clock = &clock, .profile_spacing = 10us});
    pipeline.add_source(std::make_unique<GatedSource>(40, taken, [&clock] { clock.advance(1us); }))
        .add(std::make_unique<TimedStage>("work", clock, 2us))
        .add(std::move(sink_owner));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.delivered == 40);
    std::vector<std::uint64_t> expected;
    for (std::uint64_t k = 0; k < 40; k += 4) expected.push_back(k);
    CHECK(sink.timed_ == expected);
    const StageReport& work = s.stages.at(0);
    CHECK(work.processed == 40);
    CHECK(work.service.count == 10);  // the timed frames
    CHECK(work.service.max == 2us);
    CHECK(work.wait.count == 10);
    // Each timed frame stands for itself and the untimed frames before it: frames 0-36 are in busy time; 37-39, after
    // the last timed frame, are not (at most one spacing's worth of frames).
    CHECK(work.busy == 37 * 2us);
    CHECK(s.stages.at(1).service.count == 10);
    CHECK(s.end_to_end.count == 10);
    CHECK(format_summary(report).find("timed 10 of 40 frames: they came faster than profile_spacing") !=
          std::string::npos);
    CHECK(report.balanced());
}

namespace {

// A parallel stage of 30 us of simulated time a frame (heavy: its workers run it side by side, not a carrier).
class Advances30us final : public Stage {
public:
    explicit Advances30us(ManualClock& clock) : Stage({.name = "work", .parallel = true}), clock_(clock) {}
    Outcome process(Frame&) override {
        clock_.advance(30us);
        return Outcome::pass;
    }

private:
    ManualClock& clock_;
};

}  // namespace

TEST_CASE("profiling: sampled frames of a parallel stage stand for at most every frame it processed in busy time") {
    // Workers count untimed frames with plain loads and stores, so the count can lose a frame or step back; each timed
    // frame's weight must still be what it claims of that count, never a wrapped difference.
    ManualClock clock;
    const std::uint64_t frames = stress_items(4'000);
    Pipeline pipeline({.clock = &clock, .worker_threads = 2, .profile_spacing = 1ms});
    pipeline.add_source(std::make_unique<CountingSource>(static_cast<std::int64_t>(frames)))
        .add(std::make_unique<Advances30us>(clock))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const StageReport& work = report.sources.at(0).stages.at(0);
    CHECK(work.processed == frames);
    REQUIRE(work.service.count > 0);
    CHECK(work.service.count < frames);  // sampled
    CHECK(work.busy > Duration::zero());
    CHECK(work.busy <= work.service.max * static_cast<Duration::rep>(work.processed));
}

TEST_CASE("profiling: a trace or a frames file times every frame, whatever the spacing") {
    TempDir dir;
    for (const bool trace : {true, false}) {
        CAPTURE(trace);
        ManualClock clock;
        std::atomic<std::int64_t> taken{0};
        auto sink_owner = std::make_unique<TimedFramesSink>(taken);
        TimedFramesSink& sink = *sink_owner;
        PipelineOptions options{.clock = &clock, .profile_spacing = 1s};
        (trace ? options.trace_path : options.frames_path) = dir / (trace ? "run.trace.json" : "frames.jsonl");
        Pipeline pipeline(options);
        pipeline.add_source(std::make_unique<GatedSource>(12, taken, [&clock] { clock.advance(1us); }))
            .add(std::make_unique<TimedStage>("work", clock, 2us))
            .add(std::move(sink_owner));
        const RunReport report = pipeline.run();
        REQUIRE(report.ok());
        CHECK(sink.timed_.size() == 12);
        CHECK(report.sources.at(0).stages.at(0).service.count == 12);
    }
}

TEST_CASE("profiling: the JSON report validates against its schema and reads back the same") {
    TempDir dir;
    Pipeline pipeline({.timeline_interval = 5ms});
    pipeline.add_source(std::make_unique<CountingSource>(400, /*live=*/true))
        .add(std::make_unique<SpinStage>("work", true, 100us))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.sleep = 300us}), {.capacity = 1,
                                                                                   .overflow = Overflow::drop_oldest});
    pipeline.add_source(std::make_unique<CountingSource>(100)).add(std::make_unique<SpinStage>("other", false));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const std::string json_path = dir / "run.json";
    write_report_json(report, json_path);
    const std::string schema = std::string(FRAMEPIPE_SOURCE_DIR) + "/include/framepipe/report.schema.json";
    CHECK(run(fmt::format("/usr/bin/python3 -c \"import json, jsonschema; jsonschema.validate(json.load(open('{}')), "
                          "json.load(open('{}')))\"",
                          json_path, schema)) == 0);
    const RunReport back = read_report_json(json_path);
    REQUIRE(back.sources.size() == 2);
    CHECK(back.sources[0].captured == report.sources[0].captured);
    CHECK(back.sources[0].dropped() == report.sources[0].dropped());
    CHECK(back.sources[0].stages[0].service.p99 == report.sources[0].stages[0].service.p99);
    CHECK(back.timeline.size() == report.timeline.size());
    CHECK(back.verdict == report.verdict);
    REQUIRE(back.limits.size() == report.limits.size());
    for (std::size_t i = 0; i < back.limits.size(); ++i) {
        CHECK(back.limits[i].kind == report.limits[i].kind);
        CHECK(back.limits[i].stage == report.limits[i].stage);
        CHECK(back.limits[i].figure == report.limits[i].figure);
        CHECK(back.limits[i].advice == report.limits[i].advice);
    }
    REQUIRE(report.machine.has_value());  // /proc/stat is there on Linux
    REQUIRE(back.machine.has_value());
    CHECK(back.machine->cores == report.machine->cores);
    CHECK(back.machine->busy_cores == doctest::Approx(report.machine->busy_cores));
    CHECK(back.balanced());
    // The accounting adds up in what a script reads.
    std::ifstream in(json_path);
    const auto root = nlohmann::json::parse(in);
    CHECK(root["balanced"] == true);
    for (const auto& src : root["sources"]) {
        CHECK(src["captured"].get<std::uint64_t>() ==
              src["delivered"].get<std::uint64_t>() + src["dropped"].get<std::uint64_t>() +
                  src["filtered"].get<std::uint64_t>() + src["rejected"].get<std::uint64_t>() +
                  src["queued"].get<std::uint64_t>());
        for (const auto& e : src["edges"])
            CHECK(e["pushed"].get<std::uint64_t>() == e["delivered"].get<std::uint64_t>() +
                                                          e["dropped"]["total"].get<std::uint64_t>() +
                                                          e["queued"].get<std::uint64_t>());
    }
    CHECK(root["sources"][0]["dropped"].get<std::uint64_t>() > 0);  // the live chain really dropped
    CHECK(root["sources"][0]["behind_real_time_ms"].is_object());
    CHECK(root["sources"][1]["behind_real_time_ms"].is_null());
    // And the page is drawn from it.
    write_report_html(back, dir / "run.html");
    std::ifstream page(dir / "run.html");
    const std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
    CHECK(html.find("<svg") != std::string::npos);
    CHECK(html.find("Verdict.") != std::string::npos);
}

TEST_CASE("profiling: the trace is JSON with one slice per frame per stage, a track per stage and worker") {
    TempDir dir;
    const std::string trace_path = dir / "run.trace.json";
    Pipeline pipeline({.trace_path = trace_path});
    pipeline.add_source(std::make_unique<CountingSource>(300))
        .add(std::make_unique<SpinStage>("a", true, 20us))
        .add(std::make_unique<SpinStage>("b", false))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    std::ifstream in(trace_path);
    const auto trace = nlohmann::json::parse(in);  // throws (fails the test) if it is not JSON
    std::map<std::string, std::size_t> slices;
    std::map<std::string, std::set<std::uint64_t>> frames;
    std::size_t counters = 0, track_names = 0;
    for (const auto& e : trace["traceEvents"]) {
        if (e["ph"] == "X") {
            ++slices[e["name"].get<std::string>()];
            frames[e["name"].get<std::string>()].insert(e["args"]["frame"].get<std::uint64_t>());
            CHECK(e["dur"].get<double>() >= 0);
        } else if (e["ph"] == "C") {
            ++counters;
        } else if (e["ph"] == "M" && e["name"] == "thread_name") {
            ++track_names;
        }
    }
    for (const char* stage : {"a", "b", "sink"}) {
        CAPTURE(std::string(stage));
        CHECK(slices[stage] == 300);
        CHECK(frames[stage].size() == 300);  // every frame once
    }
    CHECK(track_names >= 3);  // at least one track per stage (the parallel one has one per worker)
    CHECK(counters > 0);      // edge depths over time
}

TEST_CASE("profiling: with profiling off the run still counts everything, and says it has no timings") {
    Pipeline pipeline({.profile = false});
    pipeline.add_source(std::make_unique<CountingSource>(100))
        .add(std::make_unique<SpinStage>("work", true))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).delivered == 100);
    CHECK(report.sources.at(0).stages.at(0).service.count == 0);
    CHECK(report.verdict.find("Profiling was off") != std::string::npos);
    CHECK(report.balanced());
}
