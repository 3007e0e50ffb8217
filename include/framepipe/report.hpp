#pragma once
// What a run tells about itself: per source, per stage and per edge counts, drops by cause, and latency summaries.
// A RunReport is a plain value: taken as a snapshot while running (progress) and once at the end.
//
// Accounting invariants, checked at the end of every run (RunReport::balanced()):
//   per edge:   pushed == delivered + dropped (every cause) + queued
//   per branch: captured == passed by the branch's last stage + dropped, filtered and rejected on the way there (every
//               cause, every edge and stage from the source to it) + still queued there. A linear chain is one branch; the source's own
//               delivered and dropped are its main branch's (from the source, each stage's first consumer).

#include <framepipe/clock.hpp>
#include <framepipe/counters.hpp>
#include <framepipe/edge.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace framepipe {

struct LatencySummary {
    std::uint64_t count = 0;  // frames timed (all, unless they came faster than PipelineOptions::profile_spacing)
    Duration mean{};
    Duration p50{};
    Duration p90{};
    Duration p95{};
    Duration p99{};
    Duration max{};
};

/// An edge's identity and settings, and its counts (EdgeCounts in edge.hpp).
struct EdgeReport : EdgeCounts {
    std::string from;  // producing stage, or the source's name
    std::string to;    // consuming stage
    std::optional<std::size_t> from_stage;  // index of the producing stage in SourceReport::stages; none: the source
    std::size_t capacity = 0;
    Overflow overflow = Overflow::block;
    std::optional<Duration> max_age;
    double full_share = 0;        // share of timeline samples in which the edge was full (0..1)
    double empty_share = 0;       // ... and empty: its consumer had nothing to do
};

/// What a stage has done with its frames.
struct StageCounts {
    std::uint64_t processed = 0;
    std::uint64_t passed = 0;
    std::uint64_t filtered = 0;
    std::uint64_t rejected = 0;
    std::uint64_t failed = 0;
    std::uint64_t ended = 0;
    std::uint64_t discarded = 0;
    std::uint64_t held = 0;
    std::uint64_t flushed = 0;
    std::uint64_t unwritten = 0;
    std::uint64_t damaged = 0;
    std::uint64_t copied = 0;
    Duration busy{};

    static constexpr auto counters() {
        using F = CounterField<StageCounts>;
        using enum CounterRole;
        return std::array{
            F{&StageCounts::processed, "processed", count, "Frames given to the stage.",
              "framepipe_stage_frames_processed_total"},
            F{&StageCounts::passed, "passed", count, "Frames the stage passed on."},
            F{&StageCounts::filtered, "filtered", filter,
              "Frames the stage chose not to pass on (Outcome::drop: decimation, selection).",
              "framepipe_stage_frames_filtered_total"},
            F{&StageCounts::rejected, "rejected", reject, "Frames the stage rejected as bad data (Outcome::reject or BadFrame).",
              "framepipe_stage_frames_rejected_total"},
            F{&StageCounts::failed, "failed", drop, "Frames on which process() threw: the run ended with an error."},
            F{&StageCounts::ended, "ended", filter, "Frames on which the stage asked for the end of the stream."},
            F{&StageCounts::discarded, "discarded", drop, "Held frames thrown away because the run was aborted."},
            F{&StageCounts::held, "held", level, "Frames held (Outcome::hold) and not yet flushed."},
            F{&StageCounts::flushed, "flushed", count, "Held frames passed on by flush()."},
            F{&StageCounts::unwritten, "unwritten", count,
              "Frames the stage could not write to its output (they passed on).", "framepipe_stage_frames_unwritten_total",
              false},
            F{&StageCounts::damaged, "damaged", count, "Frames passed on with damaged pixels (errors concealed).",
              "framepipe_stage_frames_damaged_total", false},
            F{&StageCounts::copied, "copied", count,
              "Frames copied for this stage because another branch still shared them (copy on write).",
              "framepipe_stage_frames_copied_total", false},
        };
    }
    static constexpr auto times() {
        return std::array{TimeField<StageCounts>{&StageCounts::busy, "busy_ms",
                                                 "Time the stage spent processing (all its workers).",
                                                 "framepipe_stage_busy_seconds_total"}};
    }
    static constexpr DropGroup drops() {
        return {"dropped", "framepipe_stage_frames_dropped_total",
                "Frames lost in the stage: it failed on them, or they were discarded by an abort.", true};
    }

    /// Lost (failed, discarded); chosen not to pass on (filtered, ended); refused as bad data (rejected).
    [[nodiscard]] std::uint64_t dropped() const noexcept { return sum_of_drops(*this); }
    [[nodiscard]] std::uint64_t filtered_total() const noexcept { return sum_of(*this, CounterRole::filter); }
    [[nodiscard]] std::uint64_t rejected_total() const noexcept { return sum_of(*this, CounterRole::reject); }
};

/// A stage's identity and settings, its counts (StageCounts) and its timings.
struct StageReport : StageCounts {
    std::string name;
    bool parallel = false;
    std::size_t concurrency = 1;
    bool restores_order = false;    // a parallel stage whose output is put back in source order
    bool blocking_io = false;
    std::string output_stopped;     // why the stage's output stopped while the run went on; empty when it did not
    LatencySummary service;         // time inside process()
    LatencySummary wait;            // time in the input edge (and, after a parallel stage, in reordering)
    double utilisation = 0;         // busy / (active time x workers): how much of its capacity the stage used
    double fps = 0;                 // frames processed per second of the source's active time
};

/// What a source's frames have met at the source itself. The drops on its edges and stages are in their reports.
struct SourceCounts {
    std::uint64_t captured = 0;
    std::uint64_t delivered = 0;           // passed by the last stage of the main branch
    std::uint64_t dropped_at_capture = 0;  // read but never entered the pipeline (no free frame for a live source)
    std::uint64_t skipped_by_source = 0;   // never read: gaps in the source's own frame numbers (not in captured)
    std::uint64_t reconnects = 0;          // supervised sources: times the signal was lost
    std::uint64_t stalls = 0;              // live sources: times nothing arrived for over a second too long
    Duration active_time{};                // from the first capture to the last delivery
    Duration time_lost{};                  // live sources: total time without signal (reconnecting, or stalled)

    static constexpr auto counters() {
        using F = CounterField<SourceCounts>;
        using enum CounterRole;
        return std::array{
            F{&SourceCounts::captured, "captured", count, "Frames read from the source.",
              "framepipe_source_frames_captured_total"},
            F{&SourceCounts::delivered, "delivered", count, "Frames that passed the last stage of the main branch.",
              "framepipe_source_frames_delivered_total"},
            F{&SourceCounts::dropped_at_capture, "dropped_at_capture", drop, "Live frames read but never admitted.",
              "framepipe_source_frames_dropped_at_capture_total"},
            F{&SourceCounts::skipped_by_source, "skipped_by_source", count,
              "Frames the source itself skipped (gaps in its own frame numbers).",
              "framepipe_source_frames_skipped_by_source_total", false},
            F{&SourceCounts::reconnects, "reconnects", count, "Times the source's signal was lost and reopened.",
              "framepipe_source_reconnects_total"},
            F{&SourceCounts::stalls, "stalls", count,
              "Live sources: times nothing arrived for over 1 s longer than the media time between frames (counted in "
              "time_lost).",
              "framepipe_source_stalls_total", false},
        };
    }
    static constexpr auto times() {
        using F = TimeField<SourceCounts>;
        return std::array{F{&SourceCounts::active_time, "active_time_ms", "From the first capture to the last delivery.", {}},
                          F{&SourceCounts::time_lost, "time_lost_ms", "Time without signal.",
                            "framepipe_source_time_lost_seconds_total"}};
    }
    /// The source's own drop causes sit at the top level, without a family of their own: the source's "dropped" is its
    /// total over every edge and stage (SourceReport::dropped()).
    static constexpr DropGroup drops() { return {{}, {}, {}, false}; }
};

/// A source's identity, its counts (SourceCounts) and the reports of its chain's edges and stages.
struct SourceReport : SourceCounts {
    std::string name;
    bool live = false;
    double stated_fps = 0;                 // the rate the source says it delivers at; 0 when it does not say
    std::optional<std::int64_t> expected_frames;  // what the source said it holds (for progress; may be wrong)
    bool expected_is_estimate = false;
    std::uint32_t pool_capacity = 0;       // frames this source may have alive at once
    std::uint32_t pool_peak = 0;           // most that were
    LatencySummary end_to_end;             // capture to the end of the last stage
    Duration behind_real_time{};           // live input: how far the output lags the media clock, at the end
    Duration behind_real_time_max{};       //   ... and at worst
    bool signal_lost = false;              // supervised sources: the signal is lost right now (or at the end)
    std::optional<TimePoint> signal_lost_at;  // supervised sources: when it was last lost, on the run's clock (its
                                              // calendar time: Clock::wall_time); kept once it is back. Not in JSON
    std::string ended_early;               // why the input ended before its natural end (read error, cut short)
    std::size_t main_branch = 0;           // index in stages of the main branch's last stage (see main_branch_end)
    std::vector<EdgeReport> edges;         // edges[i] feeds stages[i]
    std::vector<StageReport> stages;

    /// The stages in order from the source to stages[stage] (inclusive): the branch it is on.
    [[nodiscard]] std::vector<std::size_t> branch_to(std::size_t stage) const;
    /// The stages that feed no other: the ends of branches (one for a linear chain).
    [[nodiscard]] std::vector<std::size_t> branch_ends() const;
    /// The main branch's last stage: from the first stage the pipeline declares, each stage's first consumer.
    [[nodiscard]] std::size_t main_branch_end() const noexcept { return main_branch; }
    /// This source's frames that did not reach stages[end], by what happened to them on the way (the source's own
    /// counts, and every edge and stage of the branch): lost (dropped), chosen not to pass on (filtered), refused as bad
    /// data (rejected); and frames still queued or held there.
    [[nodiscard]] std::uint64_t dropped_on_branch(std::size_t end) const;
    [[nodiscard]] std::uint64_t filtered_on_branch(std::size_t end) const;
    [[nodiscard]] std::uint64_t rejected_on_branch(std::size_t end) const;
    [[nodiscard]] std::uint64_t queued_on_branch(std::size_t end) const;
    /// The same, of the main branch (of the chain, when it is a line).
    [[nodiscard]] std::uint64_t dropped() const noexcept;
    [[nodiscard]] std::uint64_t filtered() const noexcept;
    [[nodiscard]] std::uint64_t rejected() const noexcept;
    [[nodiscard]] std::uint64_t queued() const noexcept;
    /// Frames whose fate on the main branch is settled: delivered, dropped, filtered or rejected.
    [[nodiscard]] std::uint64_t settled() const noexcept { return delivered + dropped() + filtered() + rejected(); }
    /// Frames passed on with damaged pixels, and frames an output could not write, over every stage.
    [[nodiscard]] std::uint64_t damaged() const noexcept;
    [[nodiscard]] std::uint64_t unwritten() const noexcept;
    [[nodiscard]] double fps() const noexcept;
    /// Every edge balanced, and per branch: captured == passed at its end + dropped, filtered and rejected on it + still
    /// queued on it.
    [[nodiscard]] bool balanced() const noexcept;
};

/// One sample of the run over time (taken every RunReport::timeline_interval).
struct TimelineSource {
    std::uint64_t captured = 0;            // cumulative
    std::uint64_t delivered = 0;           // cumulative
    std::uint64_t dropped = 0;             // cumulative
    Duration end_to_end_p50{};             // over the interval
    Duration end_to_end_p99{};
    std::vector<std::uint32_t> edge_depth; // frames queued in edges[i] at the sample
    std::vector<float> stage_busy;         // per stage, share of its workers' time spent processing in the interval
};
struct TimelineSample {
    Duration at{};                         // since the run started
    std::vector<TimelineSource> sources;
};

/// The machine during the run, from the pipeline's CpuMeter: processors in use on average over the run.
struct MachineReport {
    std::size_t cores = 0;       // processors online
    double busy_cores = 0;       // every process's work, in processors (0..cores)
    double process_cores = 0;    // this process's work, in processors
    /// What other processes took: busy_cores - process_cores, never below 0.
    [[nodiscard]] double other_cores() const noexcept { return busy_cores > process_cores ? busy_cores - process_cores : 0; }
};

/// What the verdict names as the limit of a run or of one input.
enum class LimitKind {
    source_pace,      // nothing limits: a live source sets the pace
    stage,            // a stage's work (serial: one core at most; parallel: its workers)
    decoder,          // the decode stage
    writer,           // a stage that waits on its disk or encoder (a blocking output)
    input,            // reading the input: a stalled stream, a slow disk, demuxing
    machine,          // every processor busy with this pipeline's work, no stage dominating
    other_processes,  // every processor busy, a large part of it other processes' work
};
[[nodiscard]] std::string_view to_string(LimitKind kind) noexcept;
[[nodiscard]] std::optional<LimitKind> parse_limit_kind(std::string_view text) noexcept;

struct Limit {
    LimitKind kind = LimitKind::source_pace;
    std::string source;  // the input it applies to; empty: the whole run
    std::string stage;   // the stage named (the costliest one for machine and other_processes); may be empty
    std::string branch;  // with branches: the last stage of the branch the stage is on (empty: shared by all)
    std::string figure;  // the measured figure it was decided on, in words
    std::string advice;  // one concrete thing to try
};

struct RunError {
    std::string source;                   // the chain's source
    std::string stage;                    // the failing stage, or the source's name when the source failed
    std::optional<std::uint64_t> frame;   // the frame's sequence number, when a frame was involved
    std::string message;

    [[nodiscard]] std::string describe() const;
};

struct RunReport {
    std::vector<SourceReport> sources;
    Duration wall_time{};
    bool finished = false;          // false in a progress snapshot
    bool stopped = false;           // ended by request_stop()
    bool drain_timed_out = false;   // the stop's drain took longer than allowed; the rest was discarded
    bool profiled = true;           // per-stage timings were recorded (PipelineOptions::profile)
    std::size_t threads = 0;        // the scheduler's worker threads
    std::optional<RunError> error;
    Duration timeline_interval{};
    std::vector<TimelineSample> timeline;
    std::optional<MachineReport> machine;  // none when the processor times could not be read
    std::vector<Limit> limits;      // what limits the run: one for the whole run, or one per input (see diagnose)
    std::string verdict;            // the verdict in words (see bottleneck_verdict)

    [[nodiscard]] bool ok() const noexcept { return !error.has_value(); }
    [[nodiscard]] bool balanced() const noexcept;
};

/// The running pipeline's latest snapshot of its counters, for stages that publish statistics while the run goes on
/// (the live view). The pipeline refreshes it about every PipelineOptions::progress_interval. Thread-safe.
class LiveReport {
public:
    /// Null until the first snapshot (taken when the run starts).
    [[nodiscard]] std::shared_ptr<const RunReport> latest() const {
        const std::lock_guard lock(mutex_);
        return latest_;
    }
    void publish(RunReport report) {
        auto next = std::make_shared<const RunReport>(std::move(report));
        const std::lock_guard lock(mutex_);
        latest_ = std::move(next);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const RunReport> latest_;
};

}  // namespace framepipe

namespace framepipe {

/// Where and why frames of a source were lost, filtered or rejected: one entry per place (edge or stage) and cause,
/// most first. Over every branch.
struct FrameLoss {
    CounterRole kind = CounterRole::drop;  // drop, filter or reject
    std::string where;                     // "a -> b" for an edge, "'stage'" for a stage, "capture" for the source
    std::string cause;                     // the counter's key: "oldest", "expired", "filtered", ...
    std::string why;                       // in words: "the edge was full, the oldest frame evicted (drop_oldest)"
    std::uint64_t frames = 0;

    /// The report's word for it: "dropped", "filtered" or "rejected".
    [[nodiscard]] std::string_view word() const noexcept {
        return kind == CounterRole::filter ? "filtered" : kind == CounterRole::reject ? "rejected" : "dropped";
    }
};
[[nodiscard]] std::vector<FrameLoss> losses_of(const SourceReport& source);

/// The end-of-run summary as a table a person reads: per source its totals, then one row per edge and per stage,
/// then the verdict.
[[nodiscard]] std::string format_summary(const RunReport& report);

/// What limits a finished run, decided from what was measured: each stage's busy share of the workers it may use, the
/// machine's processors and the share other processes took, which side of each edge waited, a live source's own rate,
/// stalls, and drops by cause. One limit for the whole run when the machine is the limit; otherwise one per input.
[[nodiscard]] std::vector<Limit> diagnose(const RunReport& report);

/// The verdict in words: per limit what it is, the figure it was decided on and one thing to try, then where frames
/// were lost and why. Computed from a finished report (its limits, or diagnose() when it has none).
[[nodiscard]] std::string bottleneck_verdict(const RunReport& report);

}  // namespace framepipe
