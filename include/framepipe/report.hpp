#pragma once
// What a run tells about itself: per source, per stage and per edge counts, drops by cause, and latency summaries.
// A RunReport is a plain value: taken as a snapshot while running (progress) and once at the end.
//
// Accounting invariants, checked at the end of every run (RunReport::balanced()):
//   per edge:   pushed == delivered + dropped (every cause) + queued
//   per branch: captured == passed by the branch's last stage + dropped on the way there (every cause, every edge and
//               stage from the source to it) + still queued there. A linear chain is one branch; the source's own
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
#include <vector>

namespace framepipe {

struct LatencySummary {
    std::uint64_t count = 0;
    Duration mean{};
    Duration p50{};
    Duration p90{};
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
            F{&StageCounts::filtered, "filtered", drop, "Frames the stage filtered out (Outcome::drop)."},
            F{&StageCounts::rejected, "rejected", drop, "Frames the stage rejected (Outcome::reject or BadFrame)."},
            F{&StageCounts::failed, "failed", drop, "Frames on which process() threw: the run ended with an error."},
            F{&StageCounts::ended, "ended", drop, "Frames on which the stage asked for the end of the stream."},
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
        return {"dropped", "framepipe_stage_frames_dropped_total", "Frames the stage filtered, rejected or ended on.",
                false};
    }

    [[nodiscard]] std::uint64_t dropped() const noexcept { return sum_of_drops(*this); }
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
    Duration active_time{};                // from the first capture to the last delivery
    Duration time_lost{};                  // supervised sources: total time without signal

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
    /// Drops of this source's frames on the way to stages[end] (the source's own, and every edge and stage of the
    /// branch), and frames still queued or held there.
    [[nodiscard]] std::uint64_t dropped_on_branch(std::size_t end) const;
    [[nodiscard]] std::uint64_t queued_on_branch(std::size_t end) const;
    /// dropped_on_branch() and queued_on_branch() of the main branch (of the chain, when it is a line).
    [[nodiscard]] std::uint64_t dropped() const noexcept;
    [[nodiscard]] std::uint64_t queued() const noexcept;
    /// Frames passed on with damaged pixels, and frames an output could not write, over every stage.
    [[nodiscard]] std::uint64_t damaged() const noexcept;
    [[nodiscard]] std::uint64_t unwritten() const noexcept;
    [[nodiscard]] double fps() const noexcept;
    /// Every edge balanced, and per branch: captured == passed at its end + dropped on it + still queued on it.
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
    std::string verdict;            // the bottleneck verdict (see bottleneck_verdict)

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

/// The end-of-run summary as a table a person reads: per source its totals, then one row per edge and per stage,
/// then the verdict.
[[nodiscard]] std::string format_summary(const RunReport& report);

/// One or two sentences a user can act on: which stage limits throughput and how busy it is, which edge is full most
/// of the time, where frames were dropped, and what to try. Computed from a finished report.
[[nodiscard]] std::string bottleneck_verdict(const RunReport& report);

}  // namespace framepipe
