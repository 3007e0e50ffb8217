#pragma once
// Pipeline: sources, each feeding its own chain of stages (a line, or a tree of branches) joined by bounded edges, run
// together by one scheduler.
//
//     using namespace framepipe;
//     Pipeline pipeline;
//     pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{.frames = 100}))
//         .add(make_stage("blur", {{"ksize", "5"}}))
//         .add(make_stage("null"), {.capacity = 2});  // an edge of at most 2 frames in front of it
//     RunReport report = pipeline.run();
//
// Each source gets its own instances of its stages (so per-input state, such as a contact sheet, needs no locking),
// its own frame pool and its own edges; all chains share the scheduler's worker threads (oneTBB). A source reads on a
// dedicated thread; compute stages run on the worker threads; stages marked blocking_io run on dedicated threads of
// their own. A light stage (under 20 us a frame) may also run on the thread of the stage or file reader before it,
// which then carries the frame on instead of queueing it (README, The engine: Carrying). Edges are bounded (see edge.hpp) and the frame pool of each source bounds its memory.
//
// Thread-safety: build the pipeline and call run() from one thread. request_stop() and request_abort() may be called
// from any thread, and from a signal handler (they only store to lock-free atomics).

#include <framepipe/clock.hpp>
#include <framepipe/cpu_meter.hpp>
#include <framepipe/edge.hpp>
#include <framepipe/report.hpp>
#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace framepipe {

struct PipelineOptions {
    /// Clock for every timestamp and age; nullptr = default_clock() (steady_clock time, read cheaply). Must outlive
    /// the pipeline.
    const Clock* clock = nullptr;
    /// Where the run's processor times come from (the report's `machine` figures, which the verdict weighs); nullptr =
    /// system_cpu_meter(). Must outlive the pipeline.
    const CpuMeter* cpu_meter = nullptr;
    /// Capacity of edges whose EdgeOptions leave it unset. Two frames per edge keep every stage busy (measured:
    /// perf/video_jobs runs no faster with 3 or 4) while bounding memory and, for live input, latency.
    std::size_t default_capacity = 2;
    /// Policy of edges whose EdgeOptions leave it unset: after a live source (and, for a source with decode stages,
    /// also after those, where pictures no longer depend on each other), live_overflow; everywhere else, block.
    Overflow live_overflow = Overflow::drop_oldest;
    /// After request_stop(), how long in-flight frames may take to drain before they are discarded.
    Duration drain_timeout = std::chrono::seconds(10);
    /// Worker threads for compute stages; 0 = one per CPU.
    std::size_t worker_threads = 0;
    /// Let the planner rewrite how each frame's work is done before the run (see Pipeline::describe() for what it
    /// chose): convert a decoded picture straight to the size the next stages use, a blur and a downscale computed
    /// together at the output size. Every rewrite keeps the picture (at most 2 levels per pixel, PSNR at least 45 dB
    /// against the unplanned path). Off (`--no-plan`), every stage runs as declared.
    bool plan = true;
    /// Record per-stage timings (a clock read and two histogram updates per stage per timed frame). On by default: the
    /// cost is measured in perf/ and small enough to leave on. Off, reports carry counts and drops only.
    bool profile = true;
    /// Profiling times every frame a source captures at least this long after the last frame it timed, and counts the
    /// others without timing them. A camera, and a file whose pipeline does real work (a decode, a filter), deliver
    /// frames further apart than this once the edges are full, so every frame is timed; when frames come faster (a
    /// light pipeline passing hundreds of thousands of frames a second), about one per this interval is, so timing
    /// costs a few percent of even the lightest frame instead of a quarter of it. Latency percentiles are then over
    /// the timed frames (their count); a stage's busy time counts each timed frame's service time once for itself
    /// and once for each frame the stage processed untimed since its last timed one. Zero times every frame; a trace
    /// or a frames file always times every frame.
    Duration profile_spacing = std::chrono::microseconds(2);
    /// Sampling period of the report's timeline (edge depths, per-interval latency, stage busy share).
    Duration timeline_interval = std::chrono::milliseconds(100);
    /// When set, run() writes a Chrome trace-event file here (chrome://tracing, Perfetto): one track per stage and
    /// worker, one slice per frame per stage, edge depths as counters. Needs profile. At most trace_limit slices.
    std::string trace_path;
    std::size_t trace_limit = 2'000'000;
    /// When set, run() streams each frame's lineage to this file while it runs, for latency analysis of one's own: a
    /// record per captured frame (source, sequence number, capture time, and per stage it reached when it entered the
    /// stage's edge, started, finished and what became of it there), then how it ended (delivered, or the stage or
    /// edge where it stopped and why). JSON Lines, or CSV (a row per frame per stage) when the name ends in .csv. Times
    /// are milliseconds since the run started, on the pipeline's clock. A frame a branch copied (copy on write) gets a
    /// second record, marked copy, for the stages after the copy. Needs profile. The file is created before any input
    /// is opened: a path that cannot be written is a ConfigError from run().
    std::string frames_path;
    /// Records waiting for the frames file's writer thread (about 1 KB each, allocated when the run starts). A record
    /// that finds them all taken (the disk is slower than the frames) is not written, never waited for: run() warns
    /// with the count.
    std::size_t frames_buffer = 4096;
    /// Called about every progress_interval with a snapshot of the counters, from a supervisor thread that run()
    /// starts (never concurrently with itself). Must not call back into the pipeline except request_stop/abort.
    std::function<void(const RunReport&)> on_progress;
    Duration progress_interval = std::chrono::seconds(1);
};

// Chain: the stages fed by one source, owned by the pipeline (obtained from Pipeline::add_source()). By default each
// stage takes the frames of the stage added before it: a line. A stage may instead name where its frames come from,
// which makes the chain a tree of branches (fan-out): record a camera's packets untouched, analyse small pictures,
// show the newest one.
//
//     using namespace framepipe;
//     Pipeline pipeline;
//     Chain& camera = pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = "cam.mp4"}));
//     camera.add(make_stage("record", {{"codec", "copy"}}), {}, std::string(kFromPackets));  // packets, untouched
//     camera.add(make_stage("resize", {{"width", "640"}}), {}, std::string(kFromSource));   // decoded pictures
//     camera.add(make_stage("motion"), {.overflow = Overflow::drop_oldest});               // after resize
//     camera.add(make_stage("live_view"), {.overflow = Overflow::latest}, "resize");        // a second branch of resize
//
// Every branch has its own edges (capacity, overflow, max_age): a stalled branch drops or waits on its own edges only,
// so a branch of `block` edges loses nothing while a `drop_oldest` sibling sheds what it cannot keep up with (a
// `block` branch that stalls does slow the producer it shares, by design). Branches share a frame until a stage that
// is not StageTraits::read_only gets it while another branch still holds it: that stage gets a copy (copy on write,
// counted per stage as `copied`). Accounting holds per branch: every frame captured is delivered at the end of each
// branch or counted as dropped on it (SourceReport::balanced).
class Chain {
public:
    virtual ~Chain() = default;
    /// Appends a stage; `edge` configures the edge in front of it; `from` is where its frames come from: empty for
    /// the stage added before it, the name of an earlier stage, kFromSource (the source's frames after its own decode
    /// stages: pictures) or kFromPackets (the source's frames before decoding: compressed packets; only for sources
    /// with decode stages). Returns *this for chaining.
    virtual Chain& add(std::unique_ptr<Stage> stage, EdgeOptions edge = {}, std::string from = {}) = 0;
};

inline constexpr std::string_view kFromSource = "source";
inline constexpr std::string_view kFromPackets = "packets";

/// How a join (Pipeline::add_join) matches its inputs' frames.
enum class JoinPolicy {
    /// On the run's clock, `fps` times a second: the newest picture of each input (live cameras for a wall or a
    /// live view). An input never waits for the join: a picture replaced before the join took it is counted as
    /// superseded. The joined stream is live.
    latest,
    /// By media time, every 1/fps s of it: for each input the last picture at or before that time, once every input
    /// has gone past it or ended (files side by side). An input waits for the join (backpressure), so nothing is
    /// skipped but pictures between two joined moments (superseded).
    timestamp,
};

struct JoinOptions {
    std::string name = "join";  // the joined stream's name, as a source's (reports, file names)
    JoinPolicy policy = JoinPolicy::latest;
    double fps = 10;            // joined frames a second (latest: on the clock; timestamp: of media time)
};

/// One input of a join: a chain, and the stage whose frames it joins (kFromSource: the source's pictures).
struct JoinInput {
    Chain* chain = nullptr;
    std::string from = std::string(kFromSource);
};

/// What Pipeline::describe() writes: a text a person reads, or Graphviz DOT (`dot -Tsvg`).
enum class DescribeFormat { text, dot };

class Pipeline {
public:
    explicit Pipeline(PipelineOptions options = {});
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    /// Adds an input and returns the chain its frames go through.
    Chain& add_source(std::unique_ptr<Source> source);

    /// Another stream of the camera whose chain is `camera`, as NVRs take a camera: its main stream recorded (by copy)
    /// and its low-resolution sub stream analysed. The stream gets a chain of its own that shares `camera`'s board
    /// (ChainBoard), so event_clips by copy on the main stream's packets follows a motion stage on the sub stream's
    /// pictures. Give both sources the camera's name: events and files carry it. The two streams' media times are
    /// matched as they are (each starts at its first frame).
    Chain& add_stream_of(Chain& camera, std::unique_ptr<Source> source);

    /// Fan-in: the frames of several chains, each taken after its `from` stage through a branch of its own, joined
    /// into one stream (JoinOptions::policy) that feeds a chain like any other; its frames carry one picture per input
    /// (framepipe/attachments/joined.hpp), which a `mosaic` stage composes into one picture. In each input chain the
    /// branch ends in a stage named "to_" + the join's name. Add the join after its inputs' stages (a stage added to
    /// an input later without a `from` would take its frames from "to_" + the join's name). An input that has not
    /// delivered holds up a timestamp join until it ends (or the run stops): give live cameras `latest`.
    ///
    ///     Chain& wall = pipeline.add_join({.name = "wall", .fps = 10}, {{&gate}, {&yard, "resize"}});
    ///     wall.add(make_stage("mosaic", {{"columns", "2"}})).add(make_stage("live_view"));
    Chain& add_join(JoinOptions options, const std::vector<JoinInput>& inputs);

    /// What run() and describe() check before they open anything: at least one source, and every chain with 1 to
    /// kMaxStagesPerLane stages (its source's decode stages, added when it opens, count too), uniquely named, behind
    /// edges of capacity 1 or more. Opens nothing. Throws ConfigError.
    void validate() const;

    /// Opens every source and stage, runs until every source has ended (or a stop, or an error), closes everything
    /// and returns the report. Throws ConfigError when the pipeline is malformed or a stage rejects its options, and
    /// Error when a source or stage fails to open; in both cases everything already opened is closed again.
    /// A failure while running does not throw: it ends the run and is in RunReport::error.
    /// run() may be called once.
    RunReport run();

    /// Instead of run(): opens the sources (to learn what they deliver and which decode stages they bring), then
    /// describes the chains that run() would build: every stage with its concurrency and every edge (which stage feeds
    /// which, so branches show) with its capacity,
    /// overflow policy and maximum age. Opens no stage and writes nothing. Throws like run() for a bad pipeline.
    std::string describe(DescribeFormat format = DescribeFormat::text);

    /// Stop reading new frames; drain and deliver what is in flight, then finish. Async-signal-safe.
    void request_stop() noexcept;
    /// Stop now: in-flight frames are discarded (and counted), every opened stage is still closed. Async-signal-safe.
    void request_abort() noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe
