// Live behaviour in simulated time: a ManualClock drives the pipeline's clock, which paces the sources, times the
// reconnect backoff and the drain timeout. A driver thread steps the clock only once every thread that waits on it
// is asleep (ManualClock::wait_for_sleepers), so the outcome is exact, whatever the machine's speed; nothing sleeps.
#include "support/eventually.hpp"
#include "support/test_stages.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

/// A supervised live input whose connection breaks after `first_frames` frames and whose server then refuses
/// `refusals` reconnection attempts. Once back, it delivers `later_frames` frames and then waits, as a camera does,
/// for its next frame (on its clock: a sleeper) until the run stops.
class FlakyCamera final : public Source {
public:
    FlakyCamera(int first_frames, int refusals, int later_frames, Duration backoff_initial, Duration backoff_max)
        : first_frames_(first_frames), refusals_(refusals), later_frames_(later_frames),
          backoff_initial_(backoff_initial), backoff_max_(backoff_max) {}

    SourceInfo open(std::stop_token) override {
        const int attempt = opens_.fetch_add(1);
        if (attempt >= 1 && attempt <= refusals_) throw Error("connection refused");
        SourceInfo info;
        info.name = "flaky";
        info.live = true;
        info.fps = 25;
        info.size = {16, 8};
        info.supervised = true;
        info.backoff_initial = backoff_initial_;
        info.backoff_max = backoff_max_;
        delivered_ = 0;
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        const bool reconnected = opens_.load() > 1;
        if (delivered_ == (reconnected ? later_frames_ : first_frames_)) {
            if (!reconnected) throw Error("connection reset by peer");
            waiting.store(true);
            (void)clock().sleep_until(clock().now() + 24h, stop);  // until the run stops
            return ReadResult::end_of_stream;
        }
        frame.prepare_image({16, 8}, CV_8UC3);
        frame.media_time = 40ms * delivered_++;
        return ReadResult::frame;
    }

    std::atomic<int> opens_{0};
    std::atomic<bool> waiting{false};

private:
    int first_frames_, refusals_, later_frames_;
    Duration backoff_initial_, backoff_max_;
    int delivered_ = 0;
};

/// A stage that takes `cost` of the pipeline's (simulated) time per frame and records the source's frame numbers.
class SlowStage final : public Stage {
public:
    explicit SlowStage(Duration cost) : Stage({.name = "slow"}), cost_(cost) {}
    void open(const StageContext& context) override { clock_ = context.clock; }
    Outcome process(Frame& frame) override {
        {
            std::lock_guard lock(mutex_);
            numbers_.push_back(frame.source_number);
        }
        (void)clock_->sleep_until(clock_->now() + cost_);
        return Outcome::pass;
    }
    [[nodiscard]] std::vector<std::int64_t> numbers() const {
        std::lock_guard lock(mutex_);
        return numbers_;
    }

private:
    Duration cost_;
    const Clock* clock_ = nullptr;
    mutable std::mutex mutex_;
    std::vector<std::int64_t> numbers_;
};

/// A SyntheticSource that says when it has ended (after its last frame was pushed: the reader reads again only then).
class WatchedSynthetic final : public Source {
public:
    explicit WatchedSynthetic(SyntheticSource::Options options) : inner_(std::move(options)) {}
    SourceInfo open(std::stop_token stop) override {
        inner_.use_clock(clock());
        return inner_.open(stop);
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        const ReadResult result = inner_.read(frame, stop);
        if (result == ReadResult::end_of_stream) ended.store(true);
        return result;
    }
    std::atomic<bool> ended{false};

private:
    SyntheticSource inner_;
};

/// A stage that holds its first frame until the run aborts (a writer stuck on a dead disk), and notes when that was.
class StuckUntilAbort final : public Stage {
public:
    StuckUntilAbort() : Stage({.name = "stuck", .blocking_io = true}) {}
    void open(const StageContext& context) override {
        clock_ = context.clock;
        abort_ = context.abort;
    }
    Outcome process(Frame&) override {
        if (!entered.exchange(true)) {
            std::mutex mutex;
            std::condition_variable_any never;
            std::unique_lock lock(mutex);
            never.wait(lock, abort_, [] { return false; });
            aborted_at.store(clock_->now().time_since_epoch().count());
        }
        return Outcome::pass;
    }
    std::atomic<bool> entered{false};
    std::atomic<std::int64_t> aborted_at{0};

private:
    const Clock* clock_ = nullptr;
    std::stop_token abort_;
};

/// A live source that delivers a frame, then waits on its clock for the next one until the run stops, and says so.
class WaitingCamera final : public Source {
public:
    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = "waiting";
        info.live = true;
        info.fps = 25;
        info.size = {16, 8};
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        if (sent_ && !clock().sleep_until(clock().now() + 24h, stop)) {
            saw_stop.store(true);
            return ReadResult::end_of_stream;
        }
        sent_ = true;
        frame.prepare_image({16, 8}, CV_8UC3);
        return ReadResult::frame;
    }
    std::atomic<bool> saw_stop{false};

private:
    bool sent_ = false;
};

}  // namespace

TEST_CASE("simulated time: reconnect backoff doubles from backoff_initial up to backoff_max, and the time without "
          "signal is exactly the time waited") {
    ManualClock clock;
    auto camera_owner = std::make_unique<FlakyCamera>(3, 5, 2, 250ms, 2s);
    FlakyCamera& camera = *camera_owner;
    Pipeline pipeline({.clock = &clock});
    pipeline.add_source(std::move(camera_owner))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}), {.overflow = Overflow::block});  // no drops
    const Duration expected[] = {250ms, 500ms, 1s, 2s, 2s, 2s};  // five refusals, then the sixth attempt answers
    std::vector<Duration> waited;
    bool steps_ok = true;
    std::thread driver([&] {
        for (std::size_t i = 0; i < std::size(expected) && steps_ok; ++i) {
            steps_ok = clock.wait_for_sleepers(1);  // the reconnect loop waits for its next attempt
            if (!steps_ok) break;
            const TimePoint before = clock.now();
            const auto next = clock.advance_to_next_wake();
            steps_ok = next.has_value();
            if (steps_ok) waited.push_back(*next - before);
        }
        // Back: the camera delivers its frames, then waits for the next one (asleep on the clock).
        steps_ok = steps_ok && clock.wait_for_sleepers(1) && camera.waiting.load();
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(steps_ok);
    REQUIRE(report.ok());
    CHECK(waited == std::vector<Duration>(std::begin(expected), std::end(expected)));
    CHECK(camera.opens_.load() == 7);  // the first open, five refused attempts, the one that answered
    const SourceReport& s = report.sources.at(0);
    CHECK(s.reconnects == 1);
    CHECK(s.time_lost == 250ms + 500ms + 1s + 2s + 2s + 2s);
    CHECK_FALSE(s.signal_lost);
    CHECK(s.captured == 5);
    CHECK(s.delivered == 5);
    CHECK(report.balanced());
}

TEST_CASE("simulated time: a live source behind a slow stage drops exactly the frames that arrive while the stage is "
          "busy, keeping the newest") {
    // 10 frames a second (one every 100 ms) into a stage that takes 230 ms, behind an edge of one frame that drops
    // the oldest. Whenever the stage finishes, it takes the newest frame that arrived meanwhile:
    //   0 (0-230), 2 (230-460), 4 (460-690), 6 (690-920), 9 (920-1150), 11 (-1380), 13 (-1610), 16 (-1840),
    //   18 (-2070), 19 (-2300); frames 1 3 5 7 8 10 12 14 15 17 are dropped.
    ManualClock clock;
    auto source_owner = std::make_unique<WatchedSynthetic>(SyntheticSource::Options{
        .width = 16, .height = 8, .frames = 20, .fps = 10, .live = true, .pattern = SyntheticSource::Pattern::counter});
    WatchedSynthetic& source = *source_owner;
    auto slow_owner = std::make_unique<SlowStage>(230ms);
    SlowStage& slow = *slow_owner;
    Pipeline pipeline({.clock = &clock});
    pipeline.add_source(std::move(source_owner))
        .add(std::move(slow_owner), {.capacity = 1})
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    std::atomic<bool> done{false};
    bool steps_ok = true;
    const TimePoint start = clock.now();
    std::thread driver([&] {
        // While the source has frames to come, it and the (always busy) stage both wait on the clock; after its last
        // frame only the stage does.
        while (steps_ok && !source.ended.load()) {
            if (clock.now() >= start + 1900ms) {  // the last frame's time: wait until the source has pushed it
                steps_ok = eventually([&] { return source.ended.load() || done.load(); }, 30s);
                break;
            }
            steps_ok = clock.wait_for_sleepers(2);
            if (steps_ok) clock.advance_to_next_wake();
        }
        while (steps_ok && !done.load())
            if (clock.wait_for_sleepers(1, 50ms)) clock.advance_to_next_wake();
    });
    const RunReport report = pipeline.run();
    done.store(true);
    driver.join();
    REQUIRE(steps_ok);
    REQUIRE(report.ok());
    CHECK(slow.numbers() == std::vector<std::int64_t>{0, 2, 4, 6, 9, 11, 13, 16, 18, 19});
    const SourceReport& s = report.sources.at(0);
    CHECK(s.captured == 20);
    CHECK(s.skipped_by_source == 0);
    CHECK(s.dropped() == 10);
    CHECK(s.edges.at(0).overflow == Overflow::drop_oldest);
    CHECK(s.edges.at(0).dropped_oldest == 10);
    CHECK(s.delivered == 10);
    CHECK(report.wall_time == 2300ms);  // the run's time is the clock's: the last frame left the stage at 2.3 s
    CHECK(report.balanced());
}

TEST_CASE("simulated time: in-flight frames that do not drain within drain_timeout are discarded at exactly that "
          "time after the stop") {
    ManualClock clock;
    auto camera_owner = std::make_unique<WaitingCamera>();
    WaitingCamera& camera = *camera_owner;
    auto stuck_owner = std::make_unique<StuckUntilAbort>();
    StuckUntilAbort& stuck = *stuck_owner;
    std::atomic<int> progress_calls{0};
    PipelineOptions options{.clock = &clock, .drain_timeout = 10s};
    options.progress_interval = 5s;  // a progress call shows the supervisor has looked at the clock's new time
    options.on_progress = [&](const RunReport&) { progress_calls.fetch_add(1); };
    Pipeline pipeline(options);
    pipeline.add_source(std::move(camera_owner)).add(std::move(stuck_owner));
    const TimePoint start = clock.now();
    bool steps_ok = true;
    bool early_abort = false;
    std::thread driver([&] {
        const auto until = [](auto ready) { return eventually(ready, 30s); };  // a bound, not a measure
        steps_ok = until([&] { return stuck.entered.load(); });
        pipeline.request_stop();
        // The supervisor takes the stop (its drain deadline: now + 10 s) before it stops the sources.
        steps_ok = steps_ok && until([&] { return camera.saw_stop.load(); });
        clock.set(start + 5s);
        steps_ok = steps_ok && until([&] { return progress_calls.load() >= 1; });
        clock.set(start + 10s);  // the deadline itself: not yet over it
        steps_ok = steps_ok && until([&] { return progress_calls.load() >= 2; });
        early_abort = stuck.aborted_at.load() != 0;
        clock.set(start + 10s + 1ms);
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(steps_ok);
    CHECK_FALSE(early_abort);
    CHECK(stuck.aborted_at.load() == (start + 10s + 1ms).time_since_epoch().count());
    CHECK(report.stopped);
    CHECK(report.drain_timed_out);
    CHECK(report.wall_time == 10s + 1ms);
    CHECK(report.balanced());
}
