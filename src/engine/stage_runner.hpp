#pragma once
// StageRunner: drives one stage of one chain. It takes frames from the stage's input edge, calls Stage::process(),
// and hands the result to its output edges (FanOut: one per stage it feeds); at the end of the main branch it counts
// the frame delivered. Copy on write: a stage that is not read_only, given a frame another branch still holds, works
// on a copy of its own from the chain's pool: a full copy (counted as `copied`), or for a stage that renders_new_image
// one that borrows the pixels, kept from being written by anyone while the stage reads them.
//
// Scheduling: the runner is woken (wake()) whenever its input gains a frame, its output (under `block`) gains space,
// or its input closes. It keeps at most `workers` activations outstanding on its scheduler node; each activation
// loops over step() for a bounded batch and then yields the thread. A worker never blocks: under `block` it reserves a
// slot in the output edge *before* taking a frame, so a frame is only taken when it can be passed on; when the output
// is full the runner simply goes idle until the consumer frees a slot and wakes it. This is what lets backpressure
// propagate through the graph to the source without ever parking a TBB thread.
//
// Carrying: a runner whose only output edge feeds one compute stage may pass a frame straight into that stage's
// runner on its own thread (take_carried), instead of queueing it for another activation, when that stage has a free
// worker, nothing queued in front of it and is light (its measured service time, a moving average, under kLightStage),
// and the frame has not yet held up the reader or a serial stage on this thread for kCarryBudget (Carry budget, below).
// A file source's reader carries frames into its first stage the same way. The frame then goes down a run of cheap
// stages on one warm core with no edge traffic, as a token does in
// tbb::parallel_pipeline; the edge still counts it as pushed and delivered. A heavy stage is never carried into, so
// heavy stages keep running side by side on different frames. A stage whose output is full takes nothing carried.
// Held claims: a file source's reader (the one thread that feeds its chain's first stage) keeps the claim on each light
// stage it carried a frame into, for the frames after it (a CarriedRun), instead of claiming and releasing the stage's
// worker slot for every frame. It holds only stages that no other thread can queue frames for: the first stage, and
// a stage after a held one that no other worker of it is running (serial, or only the reader's frame in flight) and
// that does not restore order. The held stages are therefore a run from the first stage on. A stage that refuses a
// frame (its output is full, it finished), has frames queued, or turns heavy is given back with every held stage after
// it; the reader gives them all back before it waits for anything (a free frame, room in an edge, the end of input).
// A frame on its way into a held stage takes no slot in the edge between; if the stage refuses it after all, the reader
// reserves one then (reserve_late), waiting, with every stage given back, while another worker holds them all.
//
// Order: a parallel stage whose output must stay in source order puts it back with a ReorderWindow.
// End: when the input is closed and drained and no frame is in flight, exactly one worker closes the stage, closes the
// output edge (waking the next runner) and reports the chain finished if this is its last stage.
// Thread-safety: wake() and run_worker() may be called from any thread concurrently.

#include "bounded_queue.hpp"
#include "chain_state.hpp"
#include "fan_out.hpp"
#include "scheduler.hpp"
#include "latency_histogram.hpp"
#include "live_counters.hpp"
#include "reorder_window.hpp"
#include "run_control.hpp"
#include "wakeable.hpp"

#include <framepipe/report.hpp>
#include <framepipe/stage.hpp>

#include <atomic>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

namespace framepipe::detail {

class StageRunner;

/// The stages a source's reader keeps claimed between frames while it carries frames down them (see Carrying: Held
/// claims), starting at `first`, the stage it carries into. Used by that one thread only: release_all() before it
/// waits for anything.
class CarriedRun {
public:
    explicit CarriedRun(StageRunner* first) noexcept : first_(first) {}
    CarriedRun(const CarriedRun&) = delete;
    CarriedRun& operator=(const CarriedRun&) = delete;
    ~CarriedRun() { release_all(); }
    void release_all() noexcept;

private:
    StageRunner* first_;
};

class StageRunner final : public Wakeable, public WorkerLoop {
public:
    struct Wiring {
        std::size_t position = 0;         // index in the chain (and in Frame::spans)
        Edge* in = nullptr;               // never null
        std::vector<FanOut::Target> outs; // empty at the end of a branch
        std::optional<Duration> max_age;  // of the input edge
        std::size_t workers = 1;          // most concurrent process() calls
        bool restore_order = false;       // parallel stage whose output must stay in source order
        bool main_sink = false;           // the end of the chain's main branch: what it passes is "delivered"
        bool copy_on_write = false;       // the stage writes to frames that other branches may share
        std::vector<std::size_t> lineage; // positions of the stages before it on its branch (spans a copy keeps)
    };

    // Carry budget: a thread that carries a frame holds every stage it carried it through until the frame leaves the
    // chain of carried stages (their claims are released as the calls return). A serial stage or the reader held that
    // way takes no next frame meanwhile, so carrying stops once it has been held this long (estimated from the service
    // times): the frame is queued for another thread, and the held ones go back to their next frames. A serial stage
    // that took the frame from its edge counts its own work on it too (the budget bounds how long that stage is taken
    // up by one frame; the reader's read is not counted). A frame a parallel stage's worker took from its edge holds
    // up nothing serial until it reaches a serial stage or one that restores order (whose release hands on one frame
    // at a time: the frames behind the first in one release start at the budget). Nor is a frame handed on for less
    // than half the budget of light work left (the hand-off would cost more than it saves).
    static constexpr Duration kCarryBudget = std::chrono::microseconds(4);

    StageRunner(RunControl& run, ChainState& chain, Stage& stage, Wiring wiring);

    /// Called once, before the run, with the node that runs this runner's workers.
    void attach(std::unique_ptr<Activation> activation) { activation_ = std::move(activation); }
    /// Lets this runner carry the frames it passes into `next`, the only consumer of its only output edge (see
    /// Carrying). Called once, before the run; neither runner may be on a blocking (I/O) node.
    void carry_into(StageRunner* next) noexcept { next_ = next; }
    /// The stage's open() succeeded; close() is now owed exactly once.
    void mark_opened() noexcept { opened_ = true; }

    /// Carrying (above): processes `frame` here, on the caller's thread, and passes it on, if this stage is light, idle
    /// enough and has nothing queued; false (frame untouched) otherwise, and the caller pushes it into the input edge.
    /// Called only by the input edge's producer; `reserved`: it holds a slot in the edge for this frame (freed here);
    /// `starts_when_queued`: the frame's queued stamp for this stage is now (the producer stamped it just before).
    /// `run`: the caller's held claims (Held claims), kept or extended here; nullptr: claim for this frame only.
    /// `carried_ns` (Carry budget): how long this frame has taken up the serial stage or the reader that the caller's
    /// thread holds for it, estimated; kHoldsNothingSerial when it holds neither.
    bool take_carried(FrameRef& frame, bool reserved, bool starts_when_queued, CarriedRun* run,
                      std::int64_t carried_ns) noexcept;

    void wake() noexcept override;
    void run_worker() noexcept override;

    [[nodiscard]] bool finished() const noexcept { return finished_.load(); }
    [[nodiscard]] StageReport report() const;
    /// Most frames a stage with these traits can hold at once (being processed, waiting for reordering, held back).
    [[nodiscard]] static std::size_t frames_held_at_most(const StageTraits& traits, std::size_t workers,
                                                         bool restore_order) noexcept {
        return (restore_order ? reorder_entries(workers) : workers) + (traits.parallel ? 0 : traits.max_held);
    }
    [[nodiscard]] static constexpr std::size_t reorder_entries(std::size_t workers) noexcept { return 2 * workers + 2; }

private:
    enum class Step { progressed, idle, finished };
    static constexpr int kBatch = 32;
    static constexpr Duration kLightStage = std::chrono::microseconds(20);  // carried into below this service time

    Step step() noexcept;
    bool make_room(int& entry, Edge*& full, bool reserve = true) noexcept;
    Step carry_on(int entry, FrameRef frame, bool starts_when_queued, CarriedRun* run, bool output_reserved,
                  std::int64_t carried_ns) noexcept;
    bool take_claimed(FrameRef& frame, bool reserved, bool starts_when_queued, CarriedRun* run,
                      std::int64_t carried_ns) noexcept;
    /// Gives back the claim a CarriedRun held (held_by_run_), and those it held on the stages after this one; each
    /// looks for work that waited for it.
    void release_held() noexcept;
    /// On the run's thread: this stage is held, and the run may hold the next one too (no other thread can produce
    /// for it: this stage has no other worker running and does not restore order).
    [[nodiscard]] bool passes_run_on() const noexcept;
    void reserve_late(CarriedRun& run) noexcept;
    /// Takes one of the stage's worker slots (active_) when one is free.
    [[nodiscard]] bool claim_worker() noexcept;
    [[nodiscard]] bool light() const noexcept;
    /// The light stages from this one on (until one that is not light) are estimated at under half the carry budget.
    [[nodiscard]] bool light_work_left_small() const noexcept;
    static constexpr std::int64_t kHoldsNothingSerial = -1;  // carried_ns of a frame that holds nothing serial
    /// `carried_ns` as it is once this stage has processed the frame too (Carry budget).
    [[nodiscard]] std::int64_t held_up_after(std::int64_t carried_ns) const noexcept;
    /// For one release of the reorder window, starting at `held` (carried_ns after this stage): the carried_ns of the
    /// next frame it hands on. The first gets `held`; the ones behind it, at least the budget.
    static std::int64_t next_released(std::int64_t& held) noexcept;
    void note_service(Duration service) noexcept;
    /// For a timed frame: 1 + the untimed frames processed since the last timed frame's claim (busy time's weight).
    std::uint32_t stands_for_untimed() noexcept;
    Step flush_one() noexcept;
    [[nodiscard]] bool has_work() const noexcept;
    [[nodiscard]] bool ready_to_finish() const noexcept;
    void finish() noexcept;
    Outcome process(FrameRef& frame, bool starts_when_queued) noexcept;
    bool copy_if_shared(FrameRef& frame, FrameRef& lender) noexcept;
    bool hold(FrameRef& frame) noexcept;
    /// `output_reserved`: false when no slot was reserved in a `block` output (the frame goes into a held stage).
    void forward(FrameRef frame, bool just_finished, CarriedRun* run, bool output_reserved,
                 std::int64_t carried_ns) noexcept;
    /// Called by the reorder window's release(), one thread at a time; `just_finished` as in forward().
    void emit_in_order(FrameRef frame, bool just_finished, std::int64_t carried_ns) noexcept;
    void note_output_stalled() noexcept;
    void note_output_flowing() noexcept;
    void note_finished(TimePoint finished) noexcept;  // a serial stage's last finish (last_finished_ns_)

    RunControl& run_;
    ChainState& chain_;
    Stage& stage_;
    const Wiring wiring_;
    FanOut out_;
    const bool reserve_output_;  // some output edge is `block`
    std::unique_ptr<Activation> activation_;
    StageRunner* next_ = nullptr;  // carried into (see Carrying), or nullptr
    bool held_by_run_ = false;     // a CarriedRun holds one of active_'s claims; only that run's thread touches this
    friend class CarriedRun;
    std::atomic<std::int64_t> service_estimate_ns_{-1};  // -1 until a frame was timed
    std::atomic<std::uint32_t> untimed_{0};              // frames processed without profiling, to time a sample
    // untimed_ as far as timed frames have claimed it (stands_for_untimed): a timed frame's service time stands, in
    // busy time (service_.weighted_sum()), for itself and the untimed frames it claimed. Concurrent workers may lose a
    // count of untimed_, which only shortens busy time.
    std::atomic<std::uint32_t> untimed_at_timed_{0};
    // Frames (and empty results) the reorder window released: written by the releasing thread only (one at a time),
    // before it hands the frame on.
    std::atomic<std::uint64_t> emitted_{0};
    // A serial stage's last finish time (profiling), written by its one worker at a time: a frame carried in from the
    // stage before starts no earlier. kFinishUnknown after a frame that was not timed: the next one reads the clock.
    static constexpr Duration::rep kFinishUnknown = std::numeric_limits<Duration::rep>::max();
    std::atomic<Duration::rep> last_finished_ns_{0};
    std::unique_ptr<ReorderWindow<FrameRef>> reorder_;
    bool opened_ = false;
    // Frames the stage held back (Outcome::hold), oldest first. Only touched by the stage's single worker.
    std::vector<FrameRef> held_;
    std::size_t held_head_ = 0;
    std::atomic<std::size_t> held_count_{0};

    std::atomic<int> active_{0};     // outstanding activations
    // Frames taken from the input and not yet passed on or dropped. Kept only when several workers (or the reorder
    // window) may hold frames at once: a single worker holds none between its steps, and nobody else finishes it.
    std::atomic<int> in_flight_{0};
    const bool tracks_in_flight_;
    void took_frame() noexcept {
        if (tracks_in_flight_) in_flight_.fetch_add(1);
    }
    void done_with_frame() noexcept {
        if (tracks_in_flight_) in_flight_.fetch_sub(1);
    }
    std::atomic<bool> finished_{false};
    std::atomic<std::int64_t> output_stalled_since_ns_{0};
    std::atomic<Edge*> stalled_on_{nullptr};  // the full output edge the stall is charged to

    LiveCounters<StageCounts> counts_;  // held, unwritten, damaged and busy are kept elsewhere (see report())
    LatencyHistogram service_;
    LatencyHistogram wait_;
};

}  // namespace framepipe::detail
