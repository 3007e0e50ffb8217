// Carrying (StageRunner): the producer of an edge runs the stage behind it on its own thread, instead of queueing the
// frame for another thread, when that stage is light, idle and has nothing queued; a heavy stage is never carried
// into. The clock is injected, so a stage's service time is exactly what the test says it is.
#include "support/stress.hpp"
#include "support/test_stages.hpp"

#include "engine/one_processor.hpp"
#include "engine/stage_runner.hpp"

#include <framepipe/pipeline.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

// Records which thread ran it on each frame; advances the injected clock by `cost` (its service time).
class ThreadRecorder final : public Stage {
public:
    ThreadRecorder(std::string name, std::size_t frames, ManualClock& clock, Duration cost = {}, bool parallel = false,
                   bool needs_ordered_input = false)
        : Stage({.name = std::move(name), .parallel = parallel, .needs_ordered_input = needs_ordered_input}),
          threads(frames),
          clock_(clock),
          cost_(cost) {}
    Outcome process(Frame& frame) override {
        threads.at(frame.sequence) = std::this_thread::get_id();
        stack.at(frame.sequence) = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
        if (cost_ > Duration::zero()) clock_.advance(cost_);
        return Outcome::pass;
    }
    std::vector<std::thread::id> threads;  // by frame sequence
    // By frame sequence, where on its thread's stack process() ran: a stage carried into runs deeper (at a lower
    // address) than the stage that carried the frame into it, on the same thread.
    std::vector<std::uintptr_t> stack = std::vector<std::uintptr_t>(threads.size());

private:
    ManualClock& clock_;
    Duration cost_;
};

// The run's clock in the held-back and serial-start tests: the simulated time of a ManualClock, except that the
// reading a thread takes right after a stage asked for a stall on frame k (its finish time there, when profiling) is
// returned only once the sink has frame k - 1, and `settle` more has passed (at most 20 ms of real time in all): so
// frame k - 1, when in the chain at the same time, is handed on between frame k's finish and frame k's release.
class StallingClock final : public Clock {
public:
    StallingClock(const ManualClock& time, std::size_t frames, std::chrono::milliseconds settle = {})
        : delivered(frames), time_(time), settle_(settle) {}
    [[nodiscard]] TimePoint now() const noexcept override {
        const TimePoint reading = time_.now();
        if (stalled_frame_ > 0) {
            const auto k = static_cast<std::size_t>(stalled_frame_);
            stalled_frame_ = 0;
            stalling.store(k);
            const auto until = std::chrono::steady_clock::now() + 20ms;
            while (!delivered.at(k - 1).load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
            std::this_thread::sleep_for(
                std::min<std::chrono::nanoseconds>(settle_, until - std::chrono::steady_clock::now()));
        }
        return reading;
    }
    static void stall_next_reading(std::uint64_t k) noexcept { stalled_frame_ = static_cast<std::int64_t>(k); }
    std::vector<std::atomic<bool>> delivered;  // by frame sequence: the sink has it
    mutable std::atomic<std::size_t> stalling{0};  // the last frame whose finish reading was stalled

private:
    const ManualClock& time_;
    std::chrono::milliseconds settle_;
    static thread_local std::int64_t stalled_frame_;  // the frame this thread just finished in a stage; 0: none
};
thread_local std::int64_t StallingClock::stalled_frame_ = 0;

// A parallel stage of 1 ms of simulated time a frame in which an even frame waits for the odd frame after it to finish
// first (for at most 20 ms of real time, in case no second worker takes it), so that it is held in the reorder window.
// After an odd frame it has the StallingClock stall this thread's next reading (the engine's finish reading, when
// profiling).
class OddFramesFirst final : public Stage {
public:
    OddFramesFirst(ManualClock& clock, std::size_t frames)
        : Stage({.name = "work", .parallel = true}), clock_(clock), done_(frames) {}
    Outcome process(Frame& frame) override {
        const std::uint64_t k = frame.sequence;
        if (k % 2 == 0 && k + 1 < done_.size())
            for (const auto until = std::chrono::steady_clock::now() + 20ms;
                 !done_[k + 1].load() && std::chrono::steady_clock::now() < until;)
                std::this_thread::yield();
        clock_.advance(1ms);
        done_.at(k).store(true);
        if (k % 2 == 1) StallingClock::stall_next_reading(k);
        return Outcome::pass;
    }

private:
    ManualClock& clock_;
    std::vector<std::atomic<bool>> done_;
};

// The chain's end: records, by frame, the spans of the `stages` stages before it, then tells `delivered` the frame's
// sequence.
class SpanSink final : public Stage {
public:
    SpanSink(std::size_t frames, std::size_t stages, std::function<void(std::uint64_t)> delivered)
        : Stage({.name = "sink", .needs_ordered_input = true}),
          spans(frames),
          stages_(stages),
          delivered_(std::move(delivered)) {}
    Outcome process(Frame& frame) override {
        spans.at(frame.sequence)
            .assign(frame.spans.begin(), frame.spans.begin() + static_cast<std::ptrdiff_t>(stages_));
        delivered_(frame.sequence);
        return Outcome::pass;
    }
    std::vector<std::vector<StageSpan>> spans;  // by frame sequence, then stage position

private:
    std::size_t stages_;
    std::function<void(std::uint64_t)> delivered_;
};

// 'a' of the serial-start test: light (no simulated time); has the clock stall its finish reading of frame 1.
class StallsFinishOfFrame1 final : public Stage {
public:
    StallsFinishOfFrame1() : Stage({.name = "a"}) {}
    Outcome process(Frame& frame) override {
        if (frame.sequence == 1) StallingClock::stall_next_reading(1);
        return Outcome::pass;
    }
};

// 'b' of the serial-start test: serial, 10 us of simulated time a frame (light). On frame 0 it opens the source's gate
// (frame 1 is read only now, so the reader carries it into 'a', known to be light by then), then waits (at most 20 ms
// of real time) until frame 1's finish in 'a' was read: it finishes frame 0 after that finish.
class FinishesFrame0Late final : public Stage {
public:
    FinishesFrame0Late(ManualClock& time, const StallingClock& clock, std::atomic<std::int64_t>& gate)
        : Stage({.name = "b"}), time_(time), clock_(clock), gate_(gate) {}
    Outcome process(Frame& frame) override {
        if (frame.sequence == 0) {
            gate_.store(std::numeric_limits<std::int64_t>::max());
            for (const auto until = std::chrono::steady_clock::now() + 20ms;
                 clock_.stalling.load() != 1 && std::chrono::steady_clock::now() < until;)
                std::this_thread::yield();
        }
        time_.advance(10us);
        return Outcome::pass;
    }

private:
    ManualClock& time_;
    const StallingClock& clock_;
    std::atomic<std::int64_t>& gate_;
};

// The chain's end: counts delivered frames (opening the GatedSource's gate) and records their order.
class GateSink final : public Stage {
public:
    explicit GateSink(std::atomic<std::int64_t>& delivered) : Stage({.name = "sink"}), delivered_(delivered) {}
    Outcome process(Frame& frame) override {
        order.push_back(frame.sequence);
        delivered_.fetch_add(1);
        return Outcome::pass;
    }
    std::vector<std::uint64_t> order;

private:
    std::atomic<std::int64_t>& delivered_;
};

// A clock that moves by a nanosecond at every reading: no two readings give the same time.
class TickingClock final : public Clock {
public:
    [[nodiscard]] TimePoint now() const noexcept override { return TimePoint{Duration{ticks_.fetch_add(1) + 1}}; }

private:
    mutable std::atomic<Duration::rep> ticks_{0};
};

// Records, by frame, whether the chain's reader ran it (the reader's thread is named fp-src<chain index>).
class ReaderCheck final : public Stage {
public:
    ReaderCheck(std::size_t frames, bool parallel) : Stage({.name = "p1", .parallel = parallel}), by_reader(frames) {}
    Outcome process(Frame& frame) override {
        char name[16] = {};
        pthread_getname_np(pthread_self(), name, sizeof(name));
        by_reader.at(frame.sequence) = std::string_view(name) == "fp-src0" ? 1 : 0;
        return Outcome::pass;
    }
    std::vector<char> by_reader;
};

template <class T>
T& add(Chain& chain, std::unique_ptr<T> stage) {
    T& ref = *stage;
    chain.add(std::move(stage));
    return ref;
}

void check_edges_counted_every_frame(const SourceReport& s, std::uint64_t frames) {
    for (const EdgeReport& e : s.edges) {
        CAPTURE(e.to);
        CHECK(e.pushed == frames);
        CHECK(e.delivered == frames);
        CHECK(e.dropped() == 0);
        CHECK(e.balanced());
    }
}

// Frame numbers 0..frames-1, in order.
std::vector<std::uint64_t> first_frames(std::uint64_t frames) {
    std::vector<std::uint64_t> numbers(frames);
    for (std::uint64_t k = 0; k < frames; ++k) numbers[k] = k;
    return numbers;
}

// Frames 0..frames-1 all reached `sink`, once each, in any order.
void check_got_each_once(const RecordingSink& sink, std::uint64_t frames) {
    std::vector<std::uint64_t> got = sink.sequences();
    std::sort(got.begin(), got.end());
    CHECK(got == first_frames(frames));
}

// The run succeeded, and its one source's frames 0..frames-1 all reached `sink`, once each and in order, with every
// edge and the run's books balanced.
void check_every_frame_once_in_order(const RunReport& report, const RecordingSink& sink, std::uint64_t frames) {
    REQUIRE(report.ok());
    CHECK(sink.sequences() == first_frames(frames));
    const SourceReport& s = report.sources.at(0);
    CHECK(s.delivered == frames);
    check_edges_counted_every_frame(s, frames);
    CHECK(report.balanced());
}

}  // namespace

TEST_CASE("carrying: once the reader has carried a frame through a chain of light stages, it carries every later "
          "frame through on its own thread, and each edge still counts every frame as pushed and delivered") {
    constexpr std::size_t kFrames = 2000;
    ManualClock clock;  // stands still: every stage's service time is 0, so every stage is light
    std::atomic<std::int64_t> delivered{0};
    bool profile = true;
    SUBCASE("with profiling") {}
    SUBCASE("without profiling (a stage's service time is sampled every 16th frame)") { profile = false; }
    Pipeline pipeline(PipelineOptions{.clock = &clock, .profile = profile});
    auto source_owner = std::make_unique<GatedSource>(kFrames, delivered);
    GatedSource& source = *source_owner;
    Chain& chain = pipeline.add_source(std::move(source_owner));
    std::vector<ThreadRecorder*> stages;
    for (const char* name : {"a", "b", "c"}) stages.push_back(&add(chain, std::make_unique<ThreadRecorder>(name, kFrames, clock)));
    GateSink& sink = add(chain, std::make_unique<GateSink>(delivered));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const auto on_reader = [&](std::size_t k) {
        return std::all_of(stages.begin(), stages.end(), [&](ThreadRecorder* s) { return s->threads[k] == source.reader; });
    };
    std::size_t first = 0;
    while (first < kFrames && !on_reader(first)) ++first;
    CAPTURE(first);
    REQUIRE(first < kFrames);  // carrying began (while it had not, each frame went through the edges)
    for (std::size_t k = first; k < kFrames; ++k) {
        CAPTURE(k);
        REQUIRE(on_reader(k));
    }
    CHECK(sink.order == first_frames(kFrames));
    const SourceReport& s = report.sources.at(0);
    CHECK(s.delivered == kFrames);
    check_edges_counted_every_frame(s, kFrames);
    CHECK(report.balanced());
}

TEST_CASE("carrying: a heavy stage is never carried into (it never runs on the thread of the stage before it), while "
          "the light stage after it is carried from its thread") {
    constexpr std::size_t kFrames = 300;
    ManualClock clock;
    std::atomic<std::int64_t> delivered{0};
    Pipeline pipeline(PipelineOptions{.clock = &clock});
    auto source_owner = std::make_unique<GatedSource>(kFrames, delivered);
    GatedSource& source = *source_owner;
    Chain& chain = pipeline.add_source(std::move(source_owner));
    (void)add(chain, std::make_unique<ThreadRecorder>("light", kFrames, clock));
    ThreadRecorder& heavy = add(chain, std::make_unique<ThreadRecorder>("heavy", kFrames, clock, 1ms));
    ThreadRecorder& after = add(chain, std::make_unique<ThreadRecorder>("after", kFrames, clock));
    (void)add(chain, std::make_unique<GateSink>(delivered));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    std::size_t carried_after_heavy = 0;
    for (std::size_t k = 0; k < kFrames; ++k) {
        CAPTURE(k);
        REQUIRE(heavy.threads[k] != source.reader);
        if (after.threads[k] == heavy.threads[k]) ++carried_after_heavy;
    }
    // Carried whenever it is idle with nothing queued, which is nearly always here (one frame at a time); not before
    // its service time is known.
    CHECK(carried_after_heavy > kFrames / 2);
    check_edges_counted_every_frame(report.sources.at(0), kFrames);
    CHECK(report.balanced());
}

namespace {
// Stages of 3 us each, every one light: a thread carrying a frame holds up the reader or a serial stage for 3 us per
// stage it carries the frame through, and the carry budget is 4 us.
constexpr Duration kLightWork = std::chrono::microseconds(3);
static_assert(kLightWork < detail::StageRunner::kCarryBudget && 2 * kLightWork >= detail::StageRunner::kCarryBudget);

// A gated source (one frame in the chain at a time), stages a, b, ... taking `work` each, then the gate's sink; two
// workers for each parallel stage.
struct CarriedChain {
    CarriedChain(std::size_t frames, bool parallel,
                 const std::vector<Duration>& work = std::vector<Duration>(5, kLightWork))
        : pipeline(PipelineOptions{.clock = &clock, .worker_threads = 2}) {
        auto source_owner = std::make_unique<GatedSource>(frames, delivered);
        source = source_owner.get();
        Chain& chain = pipeline.add_source(std::move(source_owner));
        for (std::size_t i = 0; i < work.size(); ++i)
            stages.push_back(&add(chain, std::make_unique<ThreadRecorder>(std::string(1, static_cast<char>('a' + i)),
                                                                          frames, clock, work[i], parallel)));
        sink = &add(chain, std::make_unique<GateSink>(delivered));
    }
    ManualClock clock;
    std::atomic<std::int64_t> delivered{0};
    Pipeline pipeline;
    GatedSource* source = nullptr;
    std::vector<ThreadRecorder*> stages;
    GateSink* sink = nullptr;
};

// Frame k went from `from` into `into` on the same thread, in a call nested in the one that ran `from` (carried),
// rather than through the edge between (a worker taking it from there may happen to be on the same thread).
bool carried(const ThreadRecorder& from, const ThreadRecorder& into, std::size_t k) {
    return into.threads[k] == from.threads[k] && into.stack[k] < from.stack[k];
}
}  // namespace

TEST_CASE(
    "carrying: the reader carries a frame only until it has been held up for the carry budget; the frame is "
    "then queued for another thread, whose serial stages carry it on under the same budget") {
    if (detail::one_processor()) return;  // there, carrying has no budget (nothing else could run the stages)
    constexpr std::size_t kFrames = 400;
    CarriedChain run(kFrames, /*parallel=*/false);
    const RunReport report = run.pipeline.run();
    REQUIRE(report.ok());
    ThreadRecorder &a = *run.stages[0], &b = *run.stages[1], &c = *run.stages[2], &d = *run.stages[3],
                   &e = *run.stages[4];
    const auto on_reader = [&](std::size_t k) {
        return a.threads[k] == run.source->reader && b.threads[k] == run.source->reader;
    };
    std::size_t first = 0;  // the first frame the reader carried through a and b (their service times known)
    while (first < kFrames && !on_reader(first)) ++first;
    CAPTURE(first);
    REQUIRE(first < kFrames);
    std::size_t d_carried = 0;
    for (std::size_t k = 0; k < kFrames; ++k) {
        CAPTURE(k);
        if (k >= first) REQUIRE(on_reader(k));  // a and b held the reader up 6 us; c would make it 9
        REQUIRE(c.threads[k] != run.source->reader);
        // Serial c, taken up 3 us by the frame, is carried on into d (6 us), but not into e (9 us).
        REQUIRE_FALSE(carried(d, e, k));
        if (carried(c, d, k)) ++d_carried;
    }
    // d is carried into whenever it is idle with nothing queued, which is nearly always here (one frame at a time).
    CHECK(d_carried > kFrames / 2);
    CHECK(run.sink->order == first_frames(kFrames));
    check_edges_counted_every_frame(report.sources.at(0), kFrames);
    CHECK(report.balanced());
}

TEST_CASE(
    "carrying: a frame is not handed on for less than half the carry budget of light work left: the reader "
    "carries it through the last, cheap stage too") {
    if (detail::one_processor()) return;  // there, carrying has no budget
    constexpr std::size_t kFrames = 300;
    CarriedChain run(kFrames, /*parallel=*/false, {kLightWork, kLightWork, kLightWork / 3});  // 3, 3, then 1 us
    const RunReport report = run.pipeline.run();
    REQUIRE(report.ok());
    std::size_t first = 0;
    while (first < kFrames && run.stages[2]->threads[first] != run.source->reader) ++first;
    CAPTURE(first);
    REQUIRE(first < kFrames);
    for (std::size_t k = first; k < kFrames; ++k) {
        CAPTURE(k);
        for (const ThreadRecorder* stage : run.stages) REQUIRE(stage->threads[k] == run.source->reader);
    }
    CHECK(run.sink->order == first_frames(kFrames));
    CHECK(report.balanced());
}

TEST_CASE(
    "carrying: a frame a parallel stage's worker took from its edge holds up nothing serial, so that worker "
    "carries it through every light parallel stage after it, past the carry budget") {
    if (detail::one_processor()) return;  // there, carrying has no budget
    constexpr std::size_t kFrames = 400;
    CarriedChain run(kFrames, /*parallel=*/true);
    const RunReport report = run.pipeline.run();
    REQUIRE(report.ok());
    ThreadRecorder &c = *run.stages[2], &d = *run.stages[3], &e = *run.stages[4];
    std::size_t carried_to_e = 0;
    for (std::size_t k = 0; k < kFrames; ++k) {
        CAPTURE(k);
        REQUIRE(c.threads[k] != run.source->reader);               // the reader was held up 6 us by a and b
        if (carried(c, d, k) && carried(d, e, k)) ++carried_to_e;  // 9 us on c's worker
    }
    CHECK(carried_to_e > kFrames / 2);
    std::vector<std::uint64_t> got = run.sink->order;
    std::sort(got.begin(), got.end());
    CHECK(got == first_frames(kFrames));
    check_edges_counted_every_frame(report.sources.at(0), kFrames);
    CHECK(report.balanced());
}

TEST_CASE(
    "carrying: a stage that restores order hands a frame on with the time its carrier was already held up: the "
    "reader that carried a frame through a serial stage and the order-restoring one goes no further") {
    if (detail::one_processor()) return;  // there, carrying has no budget
    constexpr std::size_t kFrames = 300;
    ManualClock clock;
    std::atomic<std::int64_t> delivered{0};
    Pipeline pipeline(PipelineOptions{.clock = &clock, .worker_threads = 2});
    auto source_owner = std::make_unique<GatedSource>(kFrames, delivered);
    const GatedSource& source = *source_owner;
    Chain& chain = pipeline.add_source(std::move(source_owner));
    ThreadRecorder& a = add(chain, std::make_unique<ThreadRecorder>("a", kFrames, clock, kLightWork));
    ThreadRecorder& r =
        add(chain, std::make_unique<ThreadRecorder>("r", kFrames, clock, kLightWork, /*parallel=*/true));
    ThreadRecorder& b = add(chain, std::make_unique<ThreadRecorder>("b", kFrames, clock, kLightWork, /*parallel=*/false,
                                                                    /*needs_ordered_input=*/true));
    GateSink& sink = add(chain, std::make_unique<GateSink>(delivered));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    REQUIRE(report.sources.at(0).stages.at(1).restores_order);
    std::size_t through_r = 0;
    for (std::size_t k = 0; k < kFrames; ++k) {
        CAPTURE(k);
        if (carried(a, r, k) && a.threads[k] == source.reader) ++through_r;
        REQUIRE(b.threads[k] != source.reader);  // a and r held the reader up 6 us
    }
    CHECK(through_r > kFrames / 2);
    CHECK(sink.order == first_frames(kFrames));
    CHECK(report.balanced());
}

TEST_CASE("carrying: a frame the reorder window held back starts in the stage it is carried into when it is released, "
          "not when the stage before finished it") {
    // 'work' (2 workers, restoring order) costs 1 ms of simulated time a frame, and odd frames finish it first.
    // 'light', serial, takes frame k after frame k-1: had a held-back frame started at its finish in 'work', its span
    // in 'light' would begin before the previous frame's ended. The clock holds an odd frame's finish reading until
    // the even frame before it is through: that frame is then released, and carried through 'light', after the odd
    // frame finished and before the odd frame is released (the first frame its release hands on, yet not at its
    // finish).
    const std::uint64_t frames = stress_items(2'000);
    ManualClock time;
    StallingClock clock(time, frames);
    // Profiling, every frame timed: every finish is read.
    Pipeline pipeline(PipelineOptions{.clock = &clock, .profile = true, .profile_spacing = {}});
    Chain& chain = pipeline.add_source(std::make_unique<CountingSource>(static_cast<std::int64_t>(frames)));
    (void)add(chain, std::make_unique<OddFramesFirst>(time, frames));
    (void)add(chain, std::make_unique<ThreadRecorder>("light", frames, time));
    SpanSink& sink =
        add(chain, std::make_unique<SpanSink>(frames, 2, [&](std::uint64_t k) { clock.delivered.at(k).store(true); }));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).stages.at(0).restores_order);
    for (std::uint64_t k = 1; k < frames; ++k) {
        CAPTURE(k);
        REQUIRE(sink.spans[k][1].started >= sink.spans[k - 1][1].finished);
    }
    CHECK(report.balanced());
}

TEST_CASE(
    "carrying: a frame a parallel stage releases the moment it finishes it starts in the stage it is carried into "
    "at that finish, with no wait and no clock reading between") {
    // One frame in the chain at a time: 'p' (parallel, restoring order) has nothing to hold back, so it releases each
    // frame as it finishes it, and the reader carries it on into 'light'. Each reading of the clock moves it, so a
    // reading between the two would show as a gap.
    const std::uint64_t frames = stress_items(2'000);
    TickingClock clock;
    std::atomic<std::int64_t> delivered{0};
    Pipeline pipeline(PipelineOptions{.clock = &clock, .profile_spacing = {}});  // every frame timed
    Chain& chain = pipeline.add_source(std::make_unique<GatedSource>(static_cast<std::int64_t>(frames), delivered));
    (void)add(chain, std::make_unique<SpinStage>("p", /*parallel=*/true));
    (void)add(chain, std::make_unique<SpinStage>("light", /*parallel=*/false));
    SpanSink& sink = add(chain, std::make_unique<SpanSink>(frames, 2, [&](std::uint64_t) { delivered.fetch_add(1); }));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).stages.at(0).restores_order);
    CHECK(report.sources.at(0).delivered == frames);
    std::uint64_t started_at_finish = 0;
    for (std::uint64_t k = 0; k < frames; ++k) {
        CAPTURE(k);
        const StageSpan& p = sink.spans[k][0];
        const StageSpan& light = sink.spans[k][1];
        REQUIRE(p.finished != TimePoint{});
        REQUIRE(light.queued == p.finished);
        REQUIRE(light.started >= light.queued);
        started_at_finish += light.started == p.finished ? 1 : 0;
    }
    CAPTURE(started_at_finish);
    CHECK(started_at_finish * 2 > frames);  // all but the frames before 'p' and 'light' were known to be light
    CHECK(report.balanced());
}

TEST_CASE(
    "carrying: a frame carried into a serial stage starts there no earlier than that stage finished the frame "
    "before it, even when the stage before finished it earlier") {
    // Frame 0 goes to 'b' through its edge (no stage is known to be light yet); 'b' finishes it only after the reader
    // finished frame 1 in 'a', whose finish reading the clock holds until the sink has frame 0 (and 5 ms more, for 'b'
    // to let go). The reader then carries frame 1 into 'b', idle again: starting it at its finish in 'a' would overlap
    // frame 0 there.
    const std::uint64_t frames = 4;
    ManualClock time;
    StallingClock clock(time, frames, 5ms);
    std::atomic<std::int64_t> gate{0};  // frames the source may read after the first: none until 'b' has frame 0
    Pipeline pipeline(PipelineOptions{.clock = &clock, .profile = true, .profile_spacing = {}});
    Chain& chain = pipeline.add_source(std::make_unique<GatedSource>(static_cast<std::int64_t>(frames), gate));
    (void)add(chain, std::make_unique<StallsFinishOfFrame1>());
    (void)add(chain, std::make_unique<FinishesFrame0Late>(time, clock, gate));
    SpanSink& sink =
        add(chain, std::make_unique<SpanSink>(frames, 2, [&](std::uint64_t k) { clock.delivered.at(k).store(true); }));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).delivered == frames);
    for (std::uint64_t k = 1; k < frames; ++k) {
        CAPTURE(k);
        CHECK(sink.spans[k][1].started >= sink.spans[k - 1][1].finished);
    }
    CHECK(report.balanced());
}

TEST_CASE("carrying: frames carried into light parallel stages that restore order still reach the sink once each and "
          "in order") {
    const std::uint64_t frames = stress_items(20'000);
    ManualClock clock;
    Pipeline pipeline(PipelineOptions{.clock = &clock});
    Chain& chain = pipeline.add_source(std::make_unique<CountingSource>(static_cast<std::int64_t>(frames)));
    std::vector<ThreadRecorder*> stages;
    for (const char* name : {"p1", "p2", "p3", "p4"})
        stages.push_back(&add(chain, std::make_unique<ThreadRecorder>(name, frames, clock, Duration{}, /*parallel=*/true)));
    RecordingSink& sink = add(chain, std::make_unique<RecordingSink>(RecordingSink::Options{}));

    const RunReport report = pipeline.run();
    check_every_frame_once_in_order(report, sink, frames);
    CHECK(report.sources.at(0).stages.at(0).restores_order);
    std::uint64_t on_one_thread = 0;  // frames carried from p1 through p4
    for (std::uint64_t k = 0; k < frames; ++k)
        on_one_thread += std::all_of(stages.begin(), stages.end(),
                                     [&](ThreadRecorder* r) { return r->threads[k] == stages.front()->threads[k]; });
    CHECK(on_one_thread > 0);
}

TEST_CASE(
    "carrying: on one processor (this test runs itself again under taskset) the reader carries most frames "
    "into light stages itself, serial and parallel, and every frame reaches the sink once and in order") {
    // Before: the stage's worker woke the reader when it popped a frame and was preempted by it; the reader found the
    // stage taken, queued its frame and slept, for every frame of the run (it carried 18 of 600,000).
    if (std::getenv("FRAMEPIPE_TEST_ONE_PROCESSOR") == nullptr) {
        const std::filesystem::path log =
            std::filesystem::temp_directory_path() / fmt::format("framepipe-one-processor-{}.log", getpid());
        cpu_set_t allowed;  // pinned to the first CPU this process may use (a container's cpuset may leave out CPU 0)
        REQUIRE(sched_getaffinity(0, sizeof(allowed), &allowed) == 0);
        int cpu = 0;
        while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed)) ++cpu;
        const std::string command = fmt::format(
            "FRAMEPIPE_TEST_ONE_PROCESSOR=1 taskset -c {} '{}' -tc='carrying: on one processor*' > '{}' 2>&1", cpu,
            std::filesystem::read_symlink("/proc/self/exe").string(), log.string());
        const int status = std::system(command.c_str());
        std::ifstream in(log);
        const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::filesystem::remove(log);
        INFO(output);
        CHECK(status == 0);
        return;
    }
    REQUIRE(detail::one_processor());
    for (const bool parallel : {false, true}) {
        CAPTURE(parallel);
        const std::uint64_t frames = stress_items(20'000);
        ManualClock clock;  // the stages take no time: light, whatever the preemptions
        Pipeline pipeline(PipelineOptions{.clock = &clock});
        Chain& chain = pipeline.add_source(std::make_unique<CountingSource>(static_cast<std::int64_t>(frames)));
        ReaderCheck& first = add(chain, std::make_unique<ReaderCheck>(frames, parallel));
        for (const char* name : {"p2", "p3", "p4"})
            add(chain, std::make_unique<ThreadRecorder>(name, frames, clock, Duration{}, parallel));
        RecordingSink& sink = add(chain, std::make_unique<RecordingSink>(RecordingSink::Options{}));

        const RunReport report = pipeline.run();
        check_every_frame_once_in_order(report, sink, frames);
        const auto carried = static_cast<std::uint64_t>(std::count(first.by_reader.begin(), first.by_reader.end(), 1));
        CAPTURE(carried);
        CHECK(carried * 2 > frames);
    }
}

// Held claims (StageRunner's CarriedRun): the reader keeps the light stages it carries into claimed between frames.

TEST_CASE(
    "carrying: when a slow sink fills the edges of light stages the reader holds, it gives them back and their "
    "own workers take over, and every frame reaches the sink once and in order") {
    // The sink (a blocking stage, never carried into) sleeps 100 us on every frame, five times the reader's 20 us of
    // work, so it stays the slowest even when the reader gets half a processor: the edges fill, a stage whose output is
    // full refuses the reader's frame and is given back, and the reader waits for room in the first edge, which only
    // the first stage's own worker frees.
    const std::uint64_t frames = stress_items(3'000);
    ManualClock clock;  // stands still: every stage is light
    Pipeline pipeline(PipelineOptions{.clock = &clock, .default_capacity = 2});
    Chain& chain = pipeline.add_source(std::make_unique<CountingSource>(static_cast<std::int64_t>(frames)));
    ThreadRecorder& serial = add(chain, std::make_unique<ThreadRecorder>("serial", frames, clock));
    add(chain, std::make_unique<SpinStage>("parallel", /*parallel=*/true, 20us));
    add(chain, std::make_unique<ThreadRecorder>("after", frames, clock));
    RecordingSink& sink =
        add(chain, std::make_unique<RecordingSink>(RecordingSink::Options{.sleep = std::chrono::microseconds(100)}));

    const RunReport report = pipeline.run();
    check_every_frame_once_in_order(report, sink, frames);
    const std::set<std::thread::id> ran_serial(serial.threads.begin(), serial.threads.end());
    CHECK(ran_serial.size() >= 2);  // the reader, and a worker of the pipeline's on frames queued while it waited
}

TEST_CASE(
    "carrying: parallel light stages the reader holds, with one-frame edges and a slow sink that takes frames in any "
    "order: every frame reaches the sink once, and no stage finds its output without room for a frame it took") {
    // The reader sends a frame into a held stage without a slot in the edge between; when that stage refuses it (its
    // output is full), the frame needs a slot after all, which another worker of the parallel stage before may hold
    // for a moment. A stress test of that path: the moment is short, and this run does not always reach it.
    const std::uint64_t frames = stress_items(3'000);
    ManualClock clock;  // stands still: every stage is light
    Pipeline pipeline(PipelineOptions{.clock = &clock, .default_capacity = 1, .worker_threads = 3});
    Chain& chain = pipeline.add_source(std::make_unique<CountingSource>(static_cast<std::int64_t>(frames)));
    for (const char* name : {"p1", "p2", "p3"}) add(chain, std::make_unique<SpinStage>(name, /*parallel=*/true, 5us));
    RecordingSink& sink =
        add(chain, std::make_unique<RecordingSink>(
                       RecordingSink::Options{.ordered = false, .sleep = std::chrono::microseconds(20)}));

    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    check_got_each_once(sink, frames);
    check_edges_counted_every_frame(report.sources.at(0), frames);
    CHECK(report.balanced());
}

namespace {
// Ends the stream on frame `at` (a requested end, like a frame limit): the frames before it pass.
class EndsAt final : public Stage {
public:
    explicit EndsAt(std::uint64_t at, bool parallel) : Stage({.name = "ends", .parallel = parallel}), at_(at) {}
    Outcome process(Frame& frame) override { return frame.sequence == at_ ? Outcome::end_of_stream : Outcome::pass; }

private:
    std::uint64_t at_;
};
}  // namespace

TEST_CASE(
    "carrying: a light stage that ends the stream while the reader holds it claimed ends the run, with the "
    "frames before the end delivered and every frame read counted") {
    for (const bool parallel : {false, true}) {
        CAPTURE(parallel);
        constexpr std::uint64_t kEnd = 700;
        ManualClock clock;
        Pipeline pipeline(PipelineOptions{.clock = &clock});
        Chain& chain = pipeline.add_source(std::make_unique<CountingSource>(100'000));
        add(chain, std::make_unique<ThreadRecorder>("first", 100'000, clock));
        add(chain, std::make_unique<EndsAt>(kEnd, parallel));
        RecordingSink& sink = add(chain, std::make_unique<RecordingSink>(RecordingSink::Options{.ordered = false}));

        const RunReport report = pipeline.run();
        REQUIRE(report.ok());
        check_got_each_once(sink, kEnd);
        const SourceReport& s = report.sources.at(0);
        CHECK_FALSE(s.stages.at(1).restores_order);
        CHECK(s.stages.at(1).ended == 1);
        CHECK(s.delivered == kEnd);
        CHECK(s.captured < 100'000);  // the reader stopped soon after the end
        CHECK(report.balanced());     // frames read after the end are counted where they stopped
    }
}
