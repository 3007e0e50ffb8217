#pragma once
// LatencyHistogram: a log-linear histogram of durations (8 buckets per power of two: a reported percentile is within
// 6.25% of the true value; the maximum and the sum are exact). Sharded by thread (ThreadShards): record() is a few
// plain relaxed stores into the recording thread's shard. Readers merge the shards; a reading may trail a concurrent
// record by a few samples. Thread-safe.

#include "thread_shards.hpp"

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
    using Counts = std::array<std::uint64_t, kBuckets>;

    LatencyHistogram() = default;
    LatencyHistogram(const LatencyHistogram&) = delete;
    LatencyHistogram& operator=(const LatencyHistogram&) = delete;
    ~LatencyHistogram() = default;

    void record(Duration value) noexcept { record(value, thread_slot()); }
    /// As record(value), for a caller that already has its thread_slot(). `stands_for`: how many events the sample
    /// stands for when only some are recorded (sampled profiling); it weighs weighted_sum() only.
    void record(Duration value, std::uint32_t slot, std::uint32_t stands_for = 1) noexcept;
    /// The sum of every recorded value times the events it stands for: the total over all events, sampled or not.
    [[nodiscard]] Duration weighted_sum() const noexcept;
    [[nodiscard]] LatencySummary summary() const noexcept;
    [[nodiscard]] std::uint64_t count() const noexcept;

    /// The merged bucket counts, for percentiles over an interval (the difference of two snapshots).
    void snapshot(Counts& counts) const noexcept;
    /// Percentile summary of bucket counts (count, p50, p90, p95, p99; mean and max from the buckets' middles).
    [[nodiscard]] static LatencySummary summarize(const Counts& counts) noexcept;

    /// Bucket of a value in nanoseconds, and the representative value (middle) of a bucket. Exposed for tests.
    [[nodiscard]] static int bucket_of(std::uint64_t ns) noexcept;
    [[nodiscard]] static std::uint64_t bucket_middle(int bucket) noexcept;

private:
    struct alignas(64) Shard {
        std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};
        std::atomic<std::uint64_t> count{0};
        std::atomic<std::uint64_t> sum_ns{0};
        std::atomic<std::uint64_t> weighted_sum_ns{0};
        std::atomic<std::uint64_t> max_ns{0};
    };
    ThreadShards<Shard> shards_;
};

}  // namespace framepipe::detail
