// Fan-in (Pipeline::add_join): several chains' pictures matched into one stream of their own. By media time every
// input's pictures arrive in order and each joined moment shows the last picture at or before it; on the clock each
// joined frame shows the newest pictures and no input ever waits; a stop ends a join whose inputs never end.
#include "support/report_lookup.hpp"
#include "support/test_stages.hpp"

#include <framepipe/attachments/joined.hpp>
#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>

#include <mutex>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

// What a joined frame showed of one input.
struct Seen {
    std::int64_t number = -1;  // the synthetic frame number read from the picture's pixels; -1: no picture
    Duration media_time{};
    bool fresh = false;
};

// The joined chain's sink: what every joined frame showed, in order.
class JoinedSink final : public Stage {
public:
    JoinedSink() : Stage({.name = "joined", .needs_ordered_input = true, .read_only = true}) {}
    Outcome process(Frame& frame) override {
        const auto* joined = frame.find<JoinedPictures>();
        REQUIRE(joined != nullptr);
        std::vector<Seen> row;
        for (const JoinedPicture& input : joined->inputs)
            row.push_back({input.image.empty() ? -1 : SyntheticSource::counter_of(input.image), input.media_time,
                           input.fresh});
        const std::lock_guard lock(mutex_);
        times_.push_back(frame.media_time);
        rows_.push_back(std::move(row));
        return Outcome::pass;
    }
    std::vector<std::vector<Seen>> rows() const {
        const std::lock_guard lock(mutex_);
        return rows_;
    }
    std::vector<Duration> times() const {
        const std::lock_guard lock(mutex_);
        return times_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::vector<Seen>> rows_;
    std::vector<Duration> times_;
};

std::unique_ptr<SyntheticSource> counter(std::int64_t frames, double fps, bool live, const std::string& name) {
    return std::make_unique<SyntheticSource>(SyntheticSource::Options{
        .width = 64, .height = 16, .frames = frames, .fps = fps, .live = live, .pattern = SyntheticSource::Pattern::counter,
        .name = name});
}

// Runs `pipeline` while stepping `clock` through `span` (each step once `sleepers` threads wait on it), then stops it.
RunReport run_stepped(Pipeline& pipeline, ManualClock& clock, Duration span, std::size_t sleepers) {
    bool steps_ok = true;
    const TimePoint until = clock.now() + span;
    std::thread driver([&] {
        while (steps_ok && clock.now() < until)
            steps_ok = clock.wait_for_sleepers(sleepers) && clock.advance_to_next_wake().has_value();
        pipeline.request_stop();
    });
    RunReport report = pipeline.run();
    driver.join();
    REQUIRE(steps_ok);
    return report;
}

}  // namespace

TEST_CASE("a join by timestamp sees each input's pictures in order: every joined moment shows each input's last "
          "picture at or before it, and no input loses a frame") {
    Pipeline pipeline;
    Chain& a = pipeline.add_source(counter(50, 25, false, "a"));  // 0 .. 1.96 s
    a.add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    Chain& b = pipeline.add_source(counter(75, 25, false, "b"));  // 0 .. 2.96 s
    b.add(make_stage("null"));
    auto sink_owner = std::make_unique<JoinedSink>();
    JoinedSink& sink = *sink_owner;
    pipeline.add_join({.name = "wall", .policy = JoinPolicy::timestamp, .fps = 5}, {{&a}, {&b}}).add(std::move(sink_owner));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.balanced());

    // Every 0.2 s of media time until both inputs are past: 0, 0.2, ... 3.0 s.
    const auto rows = sink.rows();
    REQUIRE(rows.size() == 16);
    const auto times = sink.times();
    for (std::size_t k = 0; k < rows.size(); ++k) {
        CAPTURE(k);
        CHECK(times[k] == std::chrono::milliseconds(200 * static_cast<int>(k)));
        REQUIRE(rows[k].size() == 2);
        const auto at = static_cast<std::int64_t>(5 * k);  // frames at 25 fps up to 0.2 k s
        CHECK(rows[k][0].number == std::min<std::int64_t>(at, 49));
        CHECK(rows[k][1].number == std::min<std::int64_t>(at, 74));
        CHECK(rows[k][0].fresh == (k <= 10));  // a's last picture (49, at 1.96 s) is new at 2.0 s, then held
        CHECK(rows[k][1].fresh);
    }
    // The inputs' branches into the join delivered every frame.
    CHECK(stage_named(report.sources.at(0), "to_wall").processed == 50);
    CHECK(stage_named(report.sources.at(1), "to_wall").processed == 75);
    CHECK(stage_named(report.sources.at(0), "to_wall").unwritten == 0);
    CHECK(report.sources.at(2).name == "wall");
    CHECK(report.sources.at(2).captured == 16);
}

TEST_CASE("a join of the latest pictures, in simulated time: every tick shows each input's newest picture so far, in "
          "order, and no input ever waits for the join") {
    ManualClock clock;
    Pipeline pipeline({.clock = &clock});
    Chain& fast = pipeline.add_source(counter(0, 25, true, "fast"));
    fast.add(make_stage("null"));
    Chain& slow = pipeline.add_source(counter(0, 10, true, "slow"));
    slow.add(make_stage("null"));
    auto sink_owner = std::make_unique<JoinedSink>();
    JoinedSink& sink = *sink_owner;
    // (Simulated time passes at once: a `block` edge keeps the joined frames the sink has not taken yet.)
    pipeline.add_join({.name = "wall", .policy = JoinPolicy::latest, .fps = 5}, {{&fast}, {&slow}})
        .add(std::move(sink_owner), {.overflow = Overflow::block});
    // Two sources and the join sleep on the clock between frames.
    const RunReport report = run_stepped(pipeline, clock, 3s, 3);
    REQUIRE(report.ok());
    CHECK(report.balanced());

    const auto rows = sink.rows();
    const auto times = sink.times();
    REQUIRE(rows.size() >= 14);  // a tick every 0.2 s over 3 s
    std::int64_t last[2] = {-1, -1};
    for (std::size_t k = 0; k < rows.size(); ++k) {
        CAPTURE(k);
        CHECK(times[k] == std::chrono::milliseconds(200 * static_cast<int>(k)));
        for (std::size_t i = 0; i < 2; ++i) {
            const Seen& seen = rows[k][i];
            CHECK(seen.number >= last[i]);                    // in order, never back
            CHECK(seen.fresh == (seen.number != last[i]));    // fresh exactly when it changed
            if (seen.number >= 0) CHECK(seen.media_time <= times[k] + 1us);  // never a picture from after the tick
            last[i] = seen.number;
        }
    }
    CHECK(last[0] >= 25 * 2);  // both inputs were shown well into the run
    CHECK(last[1] >= 10 * 2);
    // Live inputs never wait for the join: nothing was skipped at capture.
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(report.sources.at(i).skipped_by_source == 0);
        CHECK(report.sources.at(i).dropped_at_capture == 0);
    }
}

TEST_CASE("a stop ends a join by timestamp whose live input never ends, with every chain accounted for") {
    ManualClock clock;
    Pipeline pipeline({.clock = &clock});
    Chain& camera = pipeline.add_source(counter(0, 25, true, "camera"));
    camera.add(make_stage("null"));
    Chain& file = pipeline.add_source(counter(10, 25, false, "file"));
    file.add(make_stage("null"));
    auto sink_owner = std::make_unique<JoinedSink>();
    JoinedSink& sink = *sink_owner;
    pipeline.add_join({.name = "wall", .policy = JoinPolicy::timestamp, .fps = 5}, {{&camera}, {&file}})
        .add(std::move(sink_owner), {.overflow = Overflow::block});
    const RunReport report = run_stepped(pipeline, clock, 2s, 1);
    REQUIRE(report.ok());
    CHECK(report.balanced());
    const auto rows = sink.rows();
    REQUIRE(rows.size() >= 9);  // the camera's 2 s, every 0.2 s
    CHECK(rows.back()[1].number == 9);  // the file's last picture, held
    CHECK(stage_named(report.sources.at(1), "to_wall").processed == 10);
}

TEST_CASE("add_join refuses what cannot work, naming the join: no inputs, a chain of another pipeline, a bad rate, and "
          "packets") {
    Pipeline other;
    Chain& foreign = other.add_source(counter(5, 25, false, "x"));
    Pipeline pipeline;
    Chain& a = pipeline.add_source(counter(5, 25, false, "a"));
    a.add(make_stage("null"));
    CHECK_THROWS_WITH_AS(pipeline.add_join({.name = "wall"}, {}), doctest::Contains("join 'wall' has no inputs"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(pipeline.add_join({.name = "wall"}, {{&foreign}}),
                         doctest::Contains("is not a chain of this pipeline"), ConfigError);
    CHECK_THROWS_WITH_AS(pipeline.add_join({.name = "wall", .fps = 0}, {{&a}}), doctest::Contains("fps must be"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(pipeline.add_join({.name = "wall"}, {{&a}, {&a}}), doctest::Contains("the same chain"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(pipeline.add_join({.name = "wall"}, {{&a, std::string(kFromPackets)}}),
                         doctest::Contains("input 1 takes packets; a join takes pictures"), ConfigError);
}
