#pragma once
// Helpers shared by the benchmarks: wall and CPU time of a run, peak memory, and a plain-text table. Every benchmark
// prints its figures next to a baseline measured in the same run, so results are compared as ratios on one machine.

#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace framepipe::perf {

struct Timing {
    double wall_s = 0;
    double cpu_s = 0;  // user + system of the whole process while the job ran
};

inline double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Peak resident set size of this process so far, in MiB.
inline double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

template <class F>
Timing measure(F&& job) {
    const double cpu0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    job();
    Timing t;
    t.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.cpu_s = process_cpu_seconds() - cpu0;
    return t;
}

/// Best (shortest wall time) of `repeats` runs: the least disturbed by other load on a shared machine.
template <class F>
Timing best_of(int repeats, F&& job) {
    Timing best{1e300, 0};
    for (int i = 0; i < repeats; ++i) {
        const Timing t = measure(job);
        if (t.wall_s < best.wall_s) best = t;
    }
    return best;
}

class Table {
public:
    explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    void print(std::FILE* out = stdout) const {
        std::vector<std::size_t> width;
        for (const auto& row : rows_)
            for (std::size_t i = 0; i < row.size(); ++i) {
                if (width.size() <= i) width.push_back(0);
                width[i] = std::max(width[i], row[i].size());
            }
        for (std::size_t r = 0; r < rows_.size(); ++r) {
            std::string line;
            for (std::size_t i = 0; i < rows_[r].size(); ++i)
                line += i == 0 ? fmt::format("{:<{}}", rows_[r][i], width[i])
                               : fmt::format("  {:>{}}", rows_[r][i], width[i]);
            fmt::print(out, "{}\n", line);
            if (r == 0) fmt::print(out, "{}\n", std::string(line.size(), '-'));
        }
    }

private:
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace framepipe::perf
