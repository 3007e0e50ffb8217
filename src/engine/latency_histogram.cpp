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

void LatencyHistogram::record(Duration value) noexcept {
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(value.count(), 0));
    buckets_[static_cast<std::size_t>(bucket_of(ns))].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t max = max_ns_.load(std::memory_order_relaxed);
    while (ns > max && !max_ns_.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {
    }
}

LatencySummary LatencyHistogram::summary() const noexcept {
    std::array<std::uint64_t, kBuckets> counts{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) total += counts[i] = buckets_[i].load(std::memory_order_relaxed);
    LatencySummary s;
    s.count = total;
    if (total == 0) return s;
    const std::uint64_t max_ns = max_ns_.load(std::memory_order_relaxed);
    s.max = Duration{static_cast<std::int64_t>(max_ns)};
    s.mean = Duration{static_cast<std::int64_t>(sum_ns_.load(std::memory_order_relaxed) / total)};
    const auto percentile = [&](double q) {
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;  // 1-based
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts.size(); ++i) {
            seen += counts[i];
            if (seen >= rank)
                return Duration{static_cast<std::int64_t>(std::min(bucket_middle(static_cast<int>(i)), max_ns))};
        }
        return s.max;
    };
    s.p50 = percentile(0.50);
    s.p90 = percentile(0.90);
    s.p99 = percentile(0.99);
    return s;
}

}  // namespace framepipe::detail
