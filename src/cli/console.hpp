#pragma once
// The terminal side of the command: logging set-up and the progress line.

#include <framepipe/report.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace framepipe::cli {

enum class Verbosity { quiet, normal, verbose };

/// Sends framepipe's log (spdlog) to stderr as "warning: ...", clearing a progress line first when there is one.
void set_up_logging(Verbosity verbosity);

/// The running display on stderr, redrawn in place about once a second: for files, one progress line (frames,
/// percentage, rate, ETA); for live input, a table per source (stage rate, service p50/p99, busy share, queue depth,
/// drops) and how far behind real time the output is. Does nothing when stderr is not a terminal or when quiet.
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
    std::string live_table(const RunReport& snapshot, double seconds);
    std::uint64_t last_done_ = 0;
    std::chrono::steady_clock::time_point last_time_{};
    std::chrono::steady_clock::time_point last_table_{};
    double rate_ = 0;
    std::vector<std::vector<std::uint64_t>> last_processed_;
    std::vector<std::vector<double>> last_busy_;
};

/// Clears the progress line if one is showing (used by the log sink).
void clear_progress_line();

}  // namespace framepipe::cli
