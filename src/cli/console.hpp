#pragma once
// The terminal side of the command: logging set-up and the progress line.

#include <framepipe/report.hpp>

#include <chrono>
#include <mutex>
#include <string>

namespace framepipe::cli {

enum class Verbosity { quiet, normal, verbose };

/// Sends framepipe's log (spdlog) to stderr as "warning: ...", clearing a progress line first when there is one.
void set_up_logging(Verbosity verbosity);

/// A one-line progress display on stderr, redrawn in place: frames, percentage and ETA for files, rate and drops for
/// live input. Does nothing when stderr is not a terminal or when quiet.
class Progress {
public:
    explicit Progress(bool enabled);
    /// Called with each progress snapshot (from the pipeline's supervisor thread).
    void update(const RunReport& snapshot);
    /// Removes the line before the summary is printed.
    void clear();

private:
    bool enabled_;
    std::mutex mutex_;
    std::uint64_t last_done_ = 0;
    std::chrono::steady_clock::time_point last_time_{};
    double rate_ = 0;
};

/// Clears the progress line if one is showing (used by the log sink).
void clear_progress_line();

}  // namespace framepipe::cli
