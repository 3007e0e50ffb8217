#pragma once
// TraceLog: the slices of a traced run (one per frame per stage), kept in a block allocated up front and appended to
// with one atomic increment, so tracing adds no lock and no allocation to the frame path. When the block is full,
// further slices are counted and not kept (the trace says so). Written out as a Chrome trace-event file.

#include <framepipe/clock.hpp>
#include <framepipe/report.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace framepipe::detail {

struct TraceSlice {
    std::uint32_t source = 0;
    std::uint16_t stage = 0;
    std::uint16_t worker = 0;
    std::uint64_t frame = 0;
    std::int64_t start_ns = 0;  // on the pipeline's clock
    std::int64_t duration_ns = 0;
};

class TraceLog {
public:
    explicit TraceLog(std::size_t capacity) : slices_(std::make_unique<TraceSlice[]>(capacity)), capacity_(capacity) {}

    void add(const TraceSlice& slice) noexcept {
        const std::size_t at = next_.fetch_add(1, std::memory_order_relaxed);
        if (at < capacity_) slices_[at] = slice;
    }

    /// Writes chrome://tracing / Perfetto JSON: a process per source, a track per stage and worker, a slice per frame
    /// per stage, and the report's timeline of edge depths as counters. `origin` is time zero on the pipeline clock.
    /// Throws Error if the file cannot be written.
    void write_chrome_trace(const std::string& path, const RunReport& report, TimePoint origin) const;

private:
    std::unique_ptr<TraceSlice[]> slices_;
    std::size_t capacity_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace framepipe::detail
