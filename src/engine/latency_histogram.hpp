#pragma once
// LatencyHistogram: a log-linear histogram of durations (8 buckets per power of two: a reported percentile is within
// 6.25% of the true value; the maximum and the sum are exact). Each recording thread has a shard of its own, created on
// its first record() (one allocation per thread per histogram) and written by that thread only, so record() is a few
// plain relaxed stores: no lock, no atomic read-modify-write, no cache line shared with another worker. Threads past
// kOwnedSlots share one shard with atomic read-modify-writes. Readers merge the shards; a reading may trail a
// concurrent record by a few samples. Thread-safe.

#include "thread_slot.hpp"

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
    static constexpr std::size_t kOwnedSlots = 64;
    using Counts = std::array<std::uint64_t, kBuckets>;

    LatencyHistogram() = default;
    LatencyHistogram(const LatencyHistogram&) = delete;
    LatencyHistogram& operator=(const LatencyHistogram&) = delete;
    ~LatencyHistogram();

    void record(Duration value) noexcept { record(value, thread_slot()); }
    /// As record(value), for a caller that already has its thread_slot().
    void record(Duration value, std::uint32_t slot) noexcept;
    /// The sum of every recorded value (exact).
    [[nodiscard]] Duration sum() const noexcept;
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
        std::atomic<std::uint64_t> max_ns{0};
    };
    template <class F>
    void for_each_shard(F&& f) const noexcept {
        for (const auto& owned : owned_)
            if (const Shard* shard = owned.load(std::memory_order_acquire)) f(*shard);
        f(shared_);
    }
    std::array<std::atomic<Shard*>, kOwnedSlots> owned_{};  // slot i written only by the thread holding slot i
    Shard shared_;
};

}  // namespace framepipe::detail
