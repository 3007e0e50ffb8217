#include "latency_histogram.hpp"

#include <algorithm>
#include <bit>

namespace framepipe::detail {

int LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
    constexpr std::uint64_t kLinear = 1u << kSubBucketBits;  // values below this get a bucket each
    if (ns < kLinear) return static_cast<int>(ns);
    const int exponent = 63 - std::countl_zero(ns);  // >= kSubBucketBits
    const auto sub = static_cast<int>((ns >> (exponent - kSubBucketBits)) & (kLinear - 1));
    return ((exponent - kSubBucketBits + 1) << kSubBucketBits) + sub;
}

std::uint64_t LatencyHistogram::bucket_middle(int bucket) noexcept {
    constexpr int kLinear = 1 << kSubBucketBits;
    if (bucket < kLinear) return static_cast<std::uint64_t>(bucket);
    const int exponent = (bucket >> kSubBucketBits) + kSubBucketBits - 1;
    const auto sub = static_cast<std::uint64_t>(bucket & (kLinear - 1));
    const std::uint64_t width = std::uint64_t{1} << (exponent - kSubBucketBits);
    const std::uint64_t low = (std::uint64_t{1} << exponent) + sub * width;
    return low + width / 2;
}

void LatencyHistogram::record(Duration value, std::uint32_t slot, std::uint32_t stands_for) noexcept {
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(value.count(), 0));
    const auto bucket = static_cast<std::size_t>(bucket_of(ns));
    if (Shard* shard = shards_.owned(slot)) {
        add_single_writer<std::uint64_t>(shard->buckets[bucket], 1);
        add_single_writer(shard->sum_ns, ns);
        add_single_writer(shard->weighted_sum_ns, ns * stands_for);
        add_single_writer<std::uint64_t>(shard->count, 1);
        if (ns > shard->max_ns.load(std::memory_order_relaxed)) shard->max_ns.store(ns, std::memory_order_relaxed);
        return;
    }
    Shard& shared = shards_.shared();
    shared.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    shared.sum_ns.fetch_add(ns, std::memory_order_relaxed);
    shared.weighted_sum_ns.fetch_add(ns * stands_for, std::memory_order_relaxed);
    shared.count.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t max = shared.max_ns.load(std::memory_order_relaxed);
    while (ns > max && !shared.max_ns.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {
    }
}

std::uint64_t LatencyHistogram::count() const noexcept {
    std::uint64_t total = 0;
    shards_.for_each([&](const Shard& shard) { total += shard.count.load(std::memory_order_relaxed); });
    return total;
}

Duration LatencyHistogram::weighted_sum() const noexcept {
    std::uint64_t total = 0;
    shards_.for_each([&](const Shard& shard) { total += shard.weighted_sum_ns.load(std::memory_order_relaxed); });
    return Duration{static_cast<std::int64_t>(total)};
}

void LatencyHistogram::snapshot(Counts& counts) const noexcept {
    counts.fill(0);
    shards_.for_each([&](const Shard& shard) {
        for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += shard.buckets[i].load(std::memory_order_relaxed);
    });
}

LatencySummary LatencyHistogram::summarize(const Counts& counts) noexcept {
    LatencySummary s;
    std::uint64_t total = 0;
    double sum = 0;
    int highest = -1;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        total += counts[i];
        sum += static_cast<double>(counts[i]) * static_cast<double>(bucket_middle(static_cast<int>(i)));
        if (counts[i] != 0) highest = static_cast<int>(i);
    }
    s.count = total;
    if (total == 0) return s;
    s.mean = Duration{static_cast<std::int64_t>(sum / static_cast<double>(total))};
    s.max = Duration{static_cast<std::int64_t>(bucket_middle(highest))};
    const auto percentile = [&](double q) {
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;  // 1-based
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts.size(); ++i) {
            seen += counts[i];
            if (seen >= rank) return Duration{static_cast<std::int64_t>(bucket_middle(static_cast<int>(i)))};
        }
        return s.max;
    };
    s.p50 = percentile(0.50);
    s.p90 = percentile(0.90);
    s.p95 = percentile(0.95);
    s.p99 = percentile(0.99);
    return s;
}

LatencySummary LatencyHistogram::summary() const noexcept {
    Counts counts;
    snapshot(counts);
    LatencySummary s = summarize(counts);
    if (s.count == 0) return s;
    std::uint64_t sum = 0, max = 0;
    shards_.for_each([&](const Shard& shard) {
        sum += shard.sum_ns.load(std::memory_order_relaxed);
        max = std::max(max, shard.max_ns.load(std::memory_order_relaxed));
    });
    s.max = Duration{static_cast<std::int64_t>(max)};
    s.mean = Duration{static_cast<std::int64_t>(sum / s.count)};
    const auto cap = [&](Duration d) { return std::min(d, s.max); };
    s.p50 = cap(s.p50);
    s.p90 = cap(s.p90);
    s.p95 = cap(s.p95);
    s.p99 = cap(s.p99);
    return s;
}

}  // namespace framepipe::detail
