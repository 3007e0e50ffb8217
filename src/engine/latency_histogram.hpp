#pragma once
// LatencyHistogram: a log-linear histogram of durations (8 buckets per power of two: a reported percentile is within
// 12.5% of the true value; the maximum is exact). record() is wait-free: one relaxed fetch_add per bucket and for the
// sum, one CAS loop for the maximum. Thread-safe; never allocates after construction.

#include <framepipe/clock.hpp>
#include <framepipe/report.hpp>

#include <array>
#include <atomic>
#include <cstdint>

namespace framepipe::detail {

class LatencyHistogram {
public:
    static constexpr int kSubBucketBits = 3;
    static constexpr int kBuckets = (64 - kSubBucketBits + 1) << kSubBucketBits;

    void record(Duration value) noexcept;
    [[nodiscard]] LatencySummary summary() const noexcept;
    [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

    /// Bucket of a value in nanoseconds, and the representative value (middle) of a bucket. Exposed for tests.
    [[nodiscard]] static int bucket_of(std::uint64_t ns) noexcept;
    [[nodiscard]] static std::uint64_t bucket_middle(int bucket) noexcept;

private:
    std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_ns_{0};
    std::atomic<std::uint64_t> max_ns_{0};
};

}  // namespace framepipe::detail
