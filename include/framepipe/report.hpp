#pragma once
// What a run tells about itself: per source, per stage and per edge counts, drops by cause, and latency summaries.
// A RunReport is a plain value: taken as a snapshot while running (progress) and once at the end.
//
// Accounting invariants, checked at the end of every run (RunReport::balanced()):
//   per edge:   pushed == delivered + dropped (every cause) + queued
//   per source: captured == delivered to the sink + dropped (every cause, every edge and stage)

#include <framepipe/clock.hpp>
#include <framepipe/edge.hpp>

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

struct EdgeReport {
    std::string from;  // producing stage, or the source's name
    std::string to;    // consuming stage
    std::size_t capacity = 0;
    Overflow overflow = Overflow::block;
    std::optional<Duration> max_age;
    std::uint64_t pushed = 0;
    std::uint64_t delivered = 0;
    std::uint64_t dropped_oldest = 0;
    std::uint64_t dropped_newest = 0;
    std::uint64_t expired = 0;
    std::uint64_t discarded = 0;  // after a stop timeout, an error or an end-of-stream request downstream
    std::uint64_t queued = 0;
    std::uint64_t peak_depth = 0;
    Duration blocked_time{};      // time the producer waited for space (block policy)
    double full_share = 0;        // share of timeline samples in which the edge was full (0..1)

    [[nodiscard]] std::uint64_t dropped() const noexcept {
        return dropped_oldest + dropped_newest + expired + discarded;
    }
    [[nodiscard]] bool balanced() const noexcept { return pushed == delivered + dropped() + queued; }
};

struct StageReport {
    std::string name;
    bool parallel = false;
    std::size_t concurrency = 1;
    bool restores_order = false;    // a parallel stage whose output is put back in source order
    bool blocking_io = false;
    std::uint64_t processed = 0;    // frames given to process()
    std::uint64_t passed = 0;
    std::uint64_t filtered = 0;     // Outcome::drop
    std::uint64_t rejected = 0;     // Outcome::reject or BadFrame
    std::uint64_t failed = 0;       // process() threw: the run ended with an error
    std::uint64_t ended = 0;        // Outcome::end_of_stream
    std::uint64_t held = 0;         // frames held (Outcome::hold) and not yet flushed
    std::uint64_t flushed = 0;      // held frames passed on by flush()
    std::uint64_t discarded = 0;    // held frames thrown away because the run was aborted
    std::uint64_t unwritten = 0;    // frames the stage could not write to its output (StageHealth); they passed on
    std::uint64_t damaged = 0;      // frames passed on with damaged pixels (errors concealed by the decoder)
    std::string output_stopped;     // why the stage's output stopped while the run went on; empty when it did not
    LatencySummary service;         // time inside process()
    LatencySummary wait;            // time in the input edge (and, after a parallel stage, in reordering)
    Duration busy{};                // sum of service times
    double utilisation = 0;         // busy / (active time x workers): how much of its capacity the stage used
    double fps = 0;                 // frames processed per second of the source's active time

    [[nodiscard]] std::uint64_t dropped() const noexcept { return filtered + rejected + failed + ended + discarded; }
};

struct SourceReport {
    std::string name;
    bool live = false;
    std::optional<std::int64_t> expected_frames;  // what the source said it holds (for progress; may be wrong)
    bool expected_is_estimate = false;
    std::uint64_t captured = 0;
    std::uint64_t delivered = 0;           // passed by the last stage of the chain
    std::uint64_t dropped_at_capture = 0;  // read but never entered the pipeline (no free frame for a live source)
    std::uint64_t skipped_by_source = 0;   // never read: gaps in the source's own frame numbers (not in captured)
    std::uint32_t pool_capacity = 0;       // frames this source may have alive at once
    std::uint32_t pool_peak = 0;           // most that were
    Duration active_time{};                // from the first capture to the last delivery
    LatencySummary end_to_end;             // capture to the end of the last stage
    Duration behind_real_time{};           // live input: how far the output lags the media clock, at the end
    Duration behind_real_time_max{};       //   ... and at worst
    std::uint64_t reconnects = 0;          // supervised sources: times the signal was lost
    Duration time_lost{};                  //   ... total time without signal
    bool signal_lost = false;              //   ... lost right now (or at the end)
    std::string ended_early;               // why the input ended before its natural end (read error, cut short)
    std::vector<EdgeReport> edges;         // edges[i] feeds stages[i]
    std::vector<StageReport> stages;

    /// Every drop of this source's frames, on every edge and in every stage.
    [[nodiscard]] std::uint64_t dropped() const noexcept;
    [[nodiscard]] std::uint64_t queued() const noexcept;
    /// Frames passed on with damaged pixels, and frames an output could not write, over every stage.
    [[nodiscard]] std::uint64_t damaged() const noexcept;
    [[nodiscard]] std::uint64_t unwritten() const noexcept;
    [[nodiscard]] double fps() const noexcept;
    /// captured == delivered + dropped + still queued, and every edge balanced.
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
    std::size_t threads = 0;        // worker threads of the flow graph
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
