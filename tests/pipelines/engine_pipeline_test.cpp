// The engine end to end on small synthetic frames: order, backpressure, drops, errors, stop, accounting.
#include "support/stress.hpp"
#include "support/test_stages.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::uint64_t> iota(std::uint64_t n) {
    std::vector<std::uint64_t> v(n);
    std::iota(v.begin(), v.end(), 0);
    return v;
}

// Where two sequences first differ, for a readable failure message.
std::string first_difference(const std::vector<std::uint64_t>& got, const std::vector<std::uint64_t>& want) {
    const auto [g, w] = std::mismatch(got.begin(), got.end(), want.begin(), want.end());
    if (g == got.end() && w == want.end()) return "none";
    const auto at = static_cast<std::size_t>(g - got.begin());
    std::string around;
    for (std::size_t i = at >= 3 ? at - 3 : 0; i < std::min(got.size(), at + 4); ++i) around += fmt::format(" {}", got[i]);
    return fmt::format("at index {} (got {} items, want {}): got ...{}", at, got.size(), want.size(), around);
}

void check_accounting(const RunReport& report) {
    for (const SourceReport& s : report.sources) {
        CAPTURE(s.name);
        CHECK(s.captured == s.settled() + s.queued());
        CHECK(s.queued() == 0);
        for (const EdgeReport& e : s.edges) {
            CAPTURE(e.to);
            CHECK(e.balanced());
            CHECK(e.peak_depth <= e.capacity);
        }
    }
    CHECK(report.balanced());
}

}  // namespace

TEST_CASE("pipeline: every frame reaches the sink exactly once and in order through a parallel stage with random "
          "service times") {
    const std::uint64_t frames = stress_items(20'000);
    Pipeline pipeline;
    auto sink_owner = std::make_unique<RecordingSink>(RecordingSink::Options{});
    RecordingSink& sink = *sink_owner;
    pipeline.add_source(std::make_unique<CountingSource>(frames))
        .add(std::make_unique<SpinStage>("prepare", false))
        .add(std::make_unique<SpinStage>("work", true, 50us))
        .add(std::make_unique<SpinStage>("more_work", true, 20us))
        .add(std::move(sink_owner));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(sink.sequences() == iota(frames));
    const SourceReport& s = report.sources.at(0);
    CHECK(s.captured == frames);
    CHECK(s.delivered == frames);
    CHECK(s.dropped() == 0);
    CHECK(s.stages.at(1).restores_order);
    CHECK(s.stages.at(3).processed == frames);
    check_accounting(report);
}

TEST_CASE("pipeline: several sources run in one graph, each with its own chain, all frames accounted per source") {
    Pipeline pipeline;
    std::vector<RecordingSink*> sinks;
    const std::uint64_t frames[] = {500, 1200, 1};
    for (int i = 0; i < 3; ++i) {
        auto sink = std::make_unique<RecordingSink>(RecordingSink::Options{});
        sinks.push_back(sink.get());
        pipeline.add_source(std::make_unique<CountingSource>(frames[i], false, cv::Size(16, 8), fmt::format("in{}", i)))
            .add(std::make_unique<SpinStage>("work", true, 5us))
            .add(std::move(sink));
    }
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    REQUIRE(report.sources.size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(sinks[i]->sequences() == iota(frames[i]));
        CHECK(report.sources[i].name == fmt::format("in{}", i));
        CHECK(report.sources[i].delivered == frames[i]);
    }
    check_accounting(report);
}

TEST_CASE("pipeline: a stalled sink blocks a file source; live frames stay within the bound and none is lost") {
    const std::uint64_t frames = 5000;
    auto sink_owner = std::make_unique<RecordingSink>(RecordingSink::Options{.stall_until_released = true});
    RecordingSink& sink = *sink_owner;
    auto source_owner = std::make_unique<CountingSource>(frames);
    CountingSource& source = *source_owner;
    std::uint64_t most_in_flight = 0;
    PipelineOptions options;
    options.progress_interval = 5ms;
    std::atomic<std::uint64_t> captured_while_stalled{0};
    options.on_progress = [&](const RunReport& r) {
        const SourceReport& s = r.sources.at(0);
        most_in_flight = std::max(most_in_flight, s.captured - s.delivered - s.dropped());
        if (sink.count() == 0) captured_while_stalled.store(s.captured);
    };
    Pipeline stalled(options);
    stalled.add_source(std::move(source_owner))
        .add(std::make_unique<SpinStage>("a", false), {.capacity = 3})
        .add(std::make_unique<SpinStage>("b", true), {.capacity = 3})
        .add(std::move(sink_owner), {.capacity = 3});

    std::thread releaser([&] {
        // Wait until the source has stopped making progress (blocked), then let the sink go.
        std::int64_t last = -2;
        while (source.newest.load() != last || source.newest.load() < 3) {
            last = source.newest.load();
            std::this_thread::sleep_for(50ms);
        }
        sink.release();
    });
    const RunReport report = stalled.run();
    releaser.join();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    const std::uint64_t bound = s.pool_capacity;
    CAPTURE(bound);
    CHECK(captured_while_stalled.load() < frames);  // the source really was held back
    CHECK(captured_while_stalled.load() <= bound);
    CHECK(most_in_flight <= bound);
    CHECK(s.pool_peak <= s.pool_capacity);
    CHECK(s.edges.at(0).blocked_time > Duration::zero());  // the source waited for space
    CHECK(first_difference(sink.sequences(), iota(frames)) == "none");
    CHECK(s.dropped() == 0);
    check_accounting(report);
}

TEST_CASE("pipeline: drop_oldest after a fast source and before a slow sink counts its drops and feeds the sink the "
          "newest frames") {
    const std::uint64_t frames = 3000;
    auto source_owner = std::make_unique<CountingSource>(frames, /*live=*/true);
    // The sink holds its first frame until 'filter' starts its 6th (at least 5 pushed at the sink's edge of 2 while
    // it held one: at least 2 dropped there); the filter's edge keeps the newest 8 that enter it, so it gets 6.
    auto sink_owner = std::make_unique<RecordingSink>(RecordingSink::Options{.stall_until_released = true});
    RecordingSink& sink = *sink_owner;
    Pipeline pipeline;
    pipeline.add_source(std::move(source_owner))
        .add(std::make_unique<ReleaseAfter>("filter", 6, sink), {.capacity = 8})  // live source: drop_oldest
        .add(std::move(sink_owner), {.capacity = 2, .overflow = Overflow::drop_oldest});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.live);
    CHECK(s.edges.at(0).overflow == Overflow::drop_oldest);
    CHECK(s.captured == frames);
    CHECK(s.edges.at(1).dropped_oldest >= 2);
    CHECK(s.edges.at(0).dropped_oldest + s.edges.at(1).dropped_oldest == s.dropped());
    CHECK(s.delivered == sink.count());
    CHECK(s.captured == s.delivered + s.dropped());
    const auto seen = sink.sequences();
    REQUIRE(seen.size() >= 2);
    CHECK(std::adjacent_find(seen.begin(), seen.end(), std::greater_equal<>()) == seen.end());  // strictly rising
    // drop_oldest always keeps the newest: the last frame reaches the sink. (The one before it need not: if a
    // consumer takes the oldest queued frame at the instant a push evicts, the eviction correctly takes the oldest
    // that remains. Which frame a full edge drops is pinned down by the single-threaded edge tests.)
    CHECK(seen.back() == frames - 1);
    check_accounting(report);
}

TEST_CASE("pipeline: latest before a slow sink keeps one frame waiting, counts every replaced frame and the "
          "accounting holds") {
    const std::uint64_t frames = 3000;
    // The sink holds its first frame until 'filter' starts its 6th: at least 5 pushed at the sink's one-frame edge while
    // it held one, so at least 3 replaced.
    auto sink_owner = std::make_unique<RecordingSink>(RecordingSink::Options{.stall_until_released = true});
    RecordingSink& sink = *sink_owner;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<CountingSource>(frames, /*live=*/true))
        .add(std::make_unique<ReleaseAfter>("filter", 6, sink), {.capacity = 8})  // live source: drop_oldest
        .add(std::move(sink_owner), {.capacity = 8, .overflow = Overflow::latest});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    const EdgeReport& into_sink = s.edges.at(1);
    CHECK(into_sink.overflow == Overflow::latest);
    CHECK(into_sink.capacity == 1);  // whatever capacity was asked for
    CHECK(into_sink.peak_depth <= 1);
    CHECK(into_sink.replaced >= 3);
    CHECK(into_sink.dropped() == into_sink.replaced);
    CHECK(into_sink.blocked_time == Duration{});
    CHECK(s.captured == frames);
    CHECK(s.delivered == sink.count());
    CHECK(s.captured == s.delivered + s.dropped());
    const auto seen = sink.sequences();
    REQUIRE(!seen.empty());
    CHECK(std::adjacent_find(seen.begin(), seen.end(), std::greater_equal<>()) == seen.end());  // strictly rising
    CHECK(seen.back() == frames - 1);  // the newest frame is never the one replaced
    check_accounting(report);
}

TEST_CASE("pipeline: maximum age drops stale frames before an expensive stage") {
    ManualClock clock;
    // A stage that moves the clock forward by 10 ms per frame: frames queued behind it age quickly.
    class SlowClockStage final : public Stage {
    public:
        explicit SlowClockStage(ManualClock& clock) : Stage({.name = "slow"}), clock_(clock) {}
        Outcome process(Frame&) override {
            clock_.advance(10ms);
            return Outcome::pass;
        }

    private:
        ManualClock& clock_;
    };
    Pipeline pipeline({.clock = &clock});
    auto sink = std::make_unique<RecordingSink>(RecordingSink::Options{});
    RecordingSink& recorded = *sink;
    pipeline.add_source(std::make_unique<CountingSource>(200))
        .add(std::make_unique<SlowClockStage>(clock), {.capacity = 4})
        .add(std::move(sink), {.capacity = 8, .max_age = 25ms});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.edges.at(1).expired == s.dropped());
    CHECK(s.delivered == recorded.count());
    check_accounting(report);
}

TEST_CASE("pipeline: a throwing stage ends the run with its name and frame, and every opened stage is closed once") {
    Lifecycle lifecycle;
    auto source_owner = std::make_unique<CountingSource>(0);  // endless: only the error ends the run
    CountingSource& source = *source_owner;
    Pipeline pipeline;
    pipeline.add_source(std::move(source_owner))
        .add(std::make_unique<SpinStage>("first", true, 0us, &lifecycle))
        .add(std::make_unique<ThrowingStage>("fragile", 57, &lifecycle))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.lifecycle = &lifecycle}));
    const RunReport report = pipeline.run();
    REQUIRE_FALSE(report.ok());
    CHECK(report.error->stage == "fragile");
    CHECK(report.error->frame == 57);
    CHECK(report.error->message == "the stage could not cope");
    CHECK(report.error->describe() == "counting: stage 'fragile', frame 57: the stage could not cope");
    CHECK(lifecycle.opened == 3);
    CHECK(lifecycle.closed == 3);
    CHECK(source.closed == 1);
    CHECK(report.sources.at(0).stages.at(1).failed == 1);
    check_accounting(report);
}

TEST_CASE("pipeline: a stage that fails to open stops the run before it starts and closes the stages already open") {
    class FailsToOpen final : public Stage {
    public:
        FailsToOpen() : Stage({.name = "picky"}) {}
        void open(const StageContext&) override { throw ConfigError("option 'level' must be between 1 and 9, got 12"); }
        Outcome process(Frame&) override { return Outcome::pass; }
    };
    Lifecycle lifecycle;
    auto source_owner = std::make_unique<CountingSource>(10);
    CountingSource& source = *source_owner;
    Pipeline pipeline;
    pipeline.add_source(std::move(source_owner))
        .add(std::make_unique<SpinStage>("ok", false, 0us, &lifecycle))
        .add(std::make_unique<FailsToOpen>());
    CHECK_THROWS_WITH_AS(pipeline.run(),
                         "counting: stage 'picky': option 'level' must be between 1 and 9, got 12", ConfigError);
    CHECK(lifecycle.opened == 1);
    CHECK(lifecycle.closed == 1);
    CHECK(source.closed == 1);
}

TEST_CASE("pipeline: a stage may reject single bad frames; they are counted and the run goes on") {
    class RejectsOdd final : public Stage {
    public:
        RejectsOdd() : Stage({.name = "validate", .parallel = true}) {}
        Outcome process(Frame& frame) override {
            if (frame.sequence % 10 == 3) throw BadFrame("corrupt");
            return frame.sequence % 2 == 1 ? Outcome::reject : Outcome::pass;
        }
    };
    auto sink = std::make_unique<RecordingSink>(RecordingSink::Options{});
    RecordingSink& recorded = *sink;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<CountingSource>(100)).add(std::make_unique<RejectsOdd>()).add(std::move(sink));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).stages.at(0).rejected == 50);
    CHECK(recorded.count() == 50);
    const auto seen = recorded.sequences();
    CHECK(std::all_of(seen.begin(), seen.end(), [](auto s) { return s % 2 == 0; }));
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    check_accounting(report);
}

TEST_CASE("pipeline: a stage asking for end of stream stops the source; the run ends normally") {
    class TakeFirst final : public Stage {
    public:
        TakeFirst() : Stage({.name = "take"}) {}
        Outcome process(Frame& frame) override { return frame.sequence < 25 ? Outcome::pass : Outcome::end_of_stream; }
    };
    auto sink = std::make_unique<RecordingSink>(RecordingSink::Options{});
    RecordingSink& recorded = *sink;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<CountingSource>(0))
        .add(std::make_unique<SpinStage>("before", true))
        .add(std::make_unique<TakeFirst>())
        .add(std::move(sink));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(recorded.sequences() == iota(25));
    CHECK(report.sources.at(0).stages.at(1).ended == 1);
    check_accounting(report);
}

TEST_CASE("pipeline: a stop request mid-run drains the frames in flight and returns with nothing lost") {
    Lifecycle lifecycle;
    auto sink_owner = std::make_unique<RecordingSink>(RecordingSink::Options{.lifecycle = &lifecycle});
    RecordingSink& sink = *sink_owner;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 64, .height = 32, .frames = 0, .pattern = SyntheticSource::Pattern::counter}))
        .add(std::make_unique<SpinStage>("work", true, 30us, &lifecycle))
        .add(std::move(sink_owner));
    std::thread stopper([&] {
        while (sink.count() < 200) std::this_thread::sleep_for(1ms);
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    stopper.join();
    REQUIRE(report.ok());
    CHECK(report.stopped);
    CHECK_FALSE(report.drain_timed_out);
    const SourceReport& s = report.sources.at(0);
    CHECK(s.captured >= 200);
    CHECK(s.dropped() == 0);  // nothing in flight was thrown away
    CHECK(s.delivered == s.captured);
    CHECK(sink.sequences() == iota(s.captured));
    CHECK(lifecycle.closed == lifecycle.opened);
    check_accounting(report);
}

TEST_CASE("pipeline: an abort request discards what is in flight, still closes every stage, and the accounting "
          "adds up") {
    Lifecycle lifecycle;
    auto sink_owner =
        std::make_unique<RecordingSink>(RecordingSink::Options{.sleep = 1ms, .lifecycle = &lifecycle});
    RecordingSink& sink = *sink_owner;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<CountingSource>(0))
        .add(std::make_unique<SpinStage>("work", true, 0us, &lifecycle))
        .add(std::move(sink_owner));
    std::thread aborter([&] {
        while (sink.count() < 20) std::this_thread::sleep_for(1ms);
        pipeline.request_abort();
    });
    const RunReport report = pipeline.run();
    aborter.join();
    CHECK(lifecycle.opened == 2);
    CHECK(lifecycle.closed == 2);
    check_accounting(report);
}

TEST_CASE("pipeline: a live synthetic source at 200 fps through a slow stage keeps only fresh frames") {
    auto sink_owner = std::make_unique<RecordingSink>(RecordingSink::Options{.sleep = 15ms});
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 32, .height = 16, .frames = 100, .fps = 200, .live = true,
                            .pattern = SyntheticSource::Pattern::counter}))
        .add(std::make_unique<SpinStage>("work", false), {.capacity = 2})
        .add(std::move(sink_owner), {.capacity = 1, .overflow = Overflow::drop_oldest});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.captured + s.skipped_by_source == 100);  // a source thread that ran late skipped frames, like a camera
    CHECK(s.dropped() > 0);
    CHECK(s.dropped_at_capture == 0);  // the pool is sized so a live source always has a frame to read into
    check_accounting(report);
}

TEST_CASE("pipeline: malformed pipelines are refused with a message that says what to fix") {
    SUBCASE("no source") {
        Pipeline pipeline;
        CHECK_THROWS_WITH_AS(pipeline.run(), "the pipeline has no source: add at least one input", ConfigError);
    }
    SUBCASE("no stage") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(1));
        CHECK_THROWS_AS(pipeline.run(), ConfigError);
    }
    SUBCASE("duplicate names") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(1))
            .add(std::make_unique<SpinStage>("x", false))
            .add(std::make_unique<SpinStage>("x", false));
        CHECK_THROWS_WITH_AS(pipeline.run(), "source 1: two stages are named 'x'; names must be unique in a chain",
                             ConfigError);
    }
    SUBCASE("zero capacity") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(1)).add(std::make_unique<SpinStage>("x", false),
                                                                     {.capacity = 0});
        CHECK_THROWS_AS(pipeline.run(), ConfigError);
    }
}

namespace {
// Behaves like a decoder with a reordering delay: the first `delay` frames produce nothing yet (held), every later
// frame carries the output of an earlier one, and the held frames come back when the input ends. Outputs are
// numbered in output order, as a decoder numbers pictures.
class DelayLine final : public Stage {
public:
    explicit DelayLine(std::size_t delay) : Stage({.name = "delay", .max_held = delay}), delay_(delay) {}
    Outcome process(Frame& frame) override {
        if (taken_++ < delay_) return Outcome::hold;
        frame.sequence = emitted_++;
        return Outcome::pass;
    }
    bool flush(Frame& frame) override {
        frame.sequence = emitted_++;
        return true;
    }

private:
    std::size_t delay_;
    std::uint64_t taken_ = 0;
    std::uint64_t emitted_ = 0;
};
}  // namespace

TEST_CASE("pipeline: a stage may hold frames back and pass them on when the input ends, with nothing lost") {
    auto sink = std::make_unique<RecordingSink>(RecordingSink::Options{});
    RecordingSink& recorded = *sink;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<CountingSource>(500))
        .add(std::make_unique<DelayLine>(3), {.capacity = 2})
        .add(std::make_unique<SpinStage>("after", true, 5us))
        .add(std::move(sink), {.capacity = 1});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(first_difference(recorded.sequences(), iota(500)) == "none");
    const StageReport& delay = report.sources.at(0).stages.at(0);
    CHECK(delay.flushed == 3);
    CHECK(delay.held == 0);
    CHECK(delay.passed == 500);
    check_accounting(report);
}

TEST_CASE("pipeline: holding more frames than declared is an error naming the stage") {
    class Greedy final : public Stage {
    public:
        Greedy() : Stage({.name = "greedy", .max_held = 2}) {}
        Outcome process(Frame&) override { return Outcome::hold; }
    };
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<CountingSource>(10)).add(std::make_unique<Greedy>()).add(
        std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = pipeline.run();
    REQUIRE_FALSE(report.ok());
    CHECK(report.error->stage == "greedy");
    CHECK(report.error->message == "held more than its max_held of 2 frames");
    check_accounting(report);
}

namespace {

/// A live source that numbers its frames itself and leaves out some numbers, as a camera does when it drops frames
/// before anyone reads them.
class NumberedSource final : public Source {
public:
    explicit NumberedSource(std::vector<std::int64_t> numbers) : numbers_(std::move(numbers)) {}
    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = "numbered";
        info.live = true;
        info.fps = 1000;
        info.size = {16, 8};
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token) override {
        if (next_ == numbers_.size()) return ReadResult::end_of_stream;
        frame.prepare_image({16, 8}, CV_8UC3);
        frame.source_number = numbers_[next_++];
        return ReadResult::frame;
    }

private:
    std::vector<std::int64_t> numbers_;
    std::size_t next_ = 0;
};

}  // namespace

TEST_CASE("pipeline: gaps in a source's own frame numbers are counted as skipped before capture, apart from drops") {
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<NumberedSource>(std::vector<std::int64_t>{0, 1, 2, 5, 6, 9, 10}))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}), {.capacity = 16});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.skipped_by_source == 4);  // 3, 4, 7, 8
    CHECK(s.captured == 7);
    CHECK(s.delivered == 7);
    CHECK(s.dropped() == 0);
    check_accounting(report);
}

TEST_CASE("synthetic: the live pattern is a camera: a reader that comes late gets the newest frame, and the gap shows") {
    ManualClock clock;  // the camera's time, simulated
    SyntheticSource camera({.width = 32, .height = 16, .frames = 0, .fps = 100, .live = true,
                            .pattern = SyntheticSource::Pattern::counter});
    camera.use_clock(clock);
    (void)camera.open({});
    Frame frame;
    REQUIRE(camera.read(frame, {}) == ReadResult::frame);
    CHECK(frame.source_number == 0);
    clock.advance(100ms);  // 10 frame intervals
    REQUIRE(camera.read(frame, {}) == ReadResult::frame);
    CHECK(frame.source_number >= 10);
    CHECK(frame.source_number == 10);  // exactly the newest: the ones in between were never read
    CHECK(SyntheticSource::counter_of(frame.image) == frame.source_number);
    CHECK(frame.media_time == std::chrono::milliseconds(10 * frame.source_number));
}

namespace {

/// A live camera in simulated time: each read advances the clock by one frame interval (40 ms), except that before
/// frame `stall_at` nothing arrives for `stall` (a source that stalled, a process stopped and continued).
class StallingCamera final : public Source {
public:
    StallingCamera(ManualClock& clock, int frames, int stall_at, Duration stall)
        : clock_(clock), frames_(frames), stall_at_(stall_at), stall_(stall) {}
    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = "camera";
        info.live = true;
        info.fps = 25;
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token) override {
        if (next_ == frames_) return ReadResult::end_of_stream;
        clock_.advance(next_ == stall_at_ ? stall_ : std::chrono::milliseconds(40));
        frame.prepare_image({16, 8}, CV_8UC3);
        frame.media_time = std::chrono::milliseconds(40) * next_++;
        return ReadResult::frame;
    }

private:
    ManualClock& clock_;
    int frames_, stall_at_, next_ = 0;
    Duration stall_;
};

}  // namespace

TEST_CASE("pipeline: after a live input stalls, 'behind real time' describes now and the stall counts as time "
          "without signal") {
    ManualClock clock;
    Pipeline pipeline({.clock = &clock});
    pipeline.add_source(std::make_unique<StallingCamera>(clock, 100, 50, std::chrono::seconds(10)))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "sink"}), {.overflow = Overflow::block});
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& camera = report.sources.at(0);
    CHECK(camera.captured == 100);
    CHECK(report.balanced());
    CHECK(camera.behind_real_time < std::chrono::milliseconds(100));  // simulated time: only the clock's own steps
    CHECK(camera.time_lost >= std::chrono::milliseconds(9900));
    CHECK(camera.time_lost <= std::chrono::seconds(10));
    CHECK(camera.reconnects == 0);
}
