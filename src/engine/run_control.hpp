#pragma once
// RunControl: what every runner of one run shares: the clock, the first error, the abort switch and the
// "all chains finished" signal the driving thread waits on.
//
// Thread-safety: every member may be called from any thread. fail() and abort() are idempotent; they take a mutex,
// which is fine because they are off the frame path (once per run).

#include <framepipe/clock.hpp>
#include <framepipe/report.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>

namespace framepipe::detail {

class RunControl {
public:
    RunControl(const Clock& clock, std::size_t chains, bool profiling = true, class TraceLog* trace = nullptr,
               class LineageLog* lineage = nullptr, Duration profile_spacing = {})
        : clock_(clock),
          profiling_(profiling),
          profile_spacing_(trace != nullptr || lineage != nullptr ? Duration{} : profile_spacing),
          trace_(trace),
          lineage_(lineage),
          chains_left_(chains) {}

    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
    /// Whether stages record timings (PipelineOptions::profile).
    [[nodiscard]] bool profiling() const noexcept { return profiling_; }
    /// When profiling, a source times a frame captured at least this long after the last one it timed
    /// (PipelineOptions::profile_spacing; zero, every frame, when the run is traced or its lineage written).
    [[nodiscard]] Duration profile_spacing() const noexcept { return profile_spacing_; }
    /// Where stage slices go when the run is traced; null otherwise.
    [[nodiscard]] class TraceLog* trace() const noexcept { return trace_; }
    /// Where frames' lineage goes (PipelineOptions::frames_path); null otherwise.
    [[nodiscard]] class LineageLog* lineage() const noexcept { return lineage_; }

    /// Called once before the run starts: what abort() must do (discard every edge, stop every source).
    void set_abort_action(std::function<void()> action) { abort_action_ = std::move(action); }

    /// Records the run's first error and aborts the run.
    void fail(RunError error) noexcept;
    /// Ends the run now: in-flight frames are discarded; every opened stage will still be closed.
    void abort() noexcept;
    [[nodiscard]] bool aborting() const noexcept { return aborting_.load(); }
    [[nodiscard]] std::optional<RunError> error() const;
    /// Requested on abort: interrupts waits that must not outlive the run (a source waiting for space).
    [[nodiscard]] std::stop_token abort_token() const noexcept { return abort_source_.get_token(); }

    /// Each chain calls this once, when its last stage has closed.
    void chain_finished() noexcept;
    /// Waits until every chain has finished or `timeout` passes; true when finished.
    bool wait_finished(Duration timeout);

private:
    const Clock& clock_;
    const bool profiling_;
    const Duration profile_spacing_;
    class TraceLog* const trace_;
    class LineageLog* const lineage_;
    std::function<void()> abort_action_;
    std::atomic<bool> aborting_{false};
    std::stop_source abort_source_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::optional<RunError> error_;
    std::size_t chains_left_;
};

}  // namespace framepipe::detail
