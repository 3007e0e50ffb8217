// LatencyHistogram: percentiles within the bucket resolution, exact maximum, thread-safe recording.
#include "engine/latency_histogram.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using framepipe::Duration;
using framepipe::detail::LatencyHistogram;

TEST_CASE("latency_histogram: buckets are contiguous and every value lies within 12.5% of its bucket's middle") {
    int previous = -1;
    for (std::uint64_t v = 0; v < 100'000; v += (v < 64 ? 1 : v / 50)) {
        const int bucket = LatencyHistogram::bucket_of(v);
        CHECK(bucket >= previous);
        previous = bucket;
        const auto middle = static_cast<double>(LatencyHistogram::bucket_middle(bucket));
        CHECK(std::abs(middle - static_cast<double>(v)) <= 0.125 * static_cast<double>(v) + 1.0);
    }
    CHECK(LatencyHistogram::bucket_of(~0ull) < LatencyHistogram::kBuckets);
}

TEST_CASE("latency_histogram: percentiles of a known distribution") {
    LatencyHistogram h;
    for (int i = 1; i <= 1000; ++i) h.record(Duration{i * 1000});  // 1 us .. 1 ms, uniform
    const auto s = h.summary();
    CHECK(s.count == 1000);
    CHECK(s.max == Duration{1'000'000});
    CHECK(s.mean == Duration{500'500});
    CHECK(s.p50.count() == doctest::Approx(500'000).epsilon(0.13));
    CHECK(s.p90.count() == doctest::Approx(900'000).epsilon(0.13));
    CHECK(s.p95.count() == doctest::Approx(950'000).epsilon(0.13));
    CHECK(s.p90 < s.p95);
    CHECK(s.p95 < s.p99);
    CHECK(s.p99.count() == doctest::Approx(990'000).epsilon(0.13));
}

TEST_CASE("latency_histogram: p95 is the bucket holding the 95th of 100 samples") {
    LatencyHistogram h;
    for (int i = 0; i < 94; ++i) h.record(std::chrono::microseconds(10));
    for (int i = 0; i < 6; ++i) h.record(std::chrono::milliseconds(50));
    const auto s = h.summary();
    CHECK(s.p90 < std::chrono::microseconds(20));   // the 90th sample is one of the 94 quick ones
    CHECK(s.p95 > std::chrono::milliseconds(40));   // the 95th is one of the 6 slow ones
    CHECK(s.p95 <= std::chrono::milliseconds(50));
}

TEST_CASE("latency_histogram: concurrent recording loses nothing") {
    LatencyHistogram h;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 50'000; ++i) h.record(Duration{i});
        });
    for (auto& t : threads) t.join();
    CHECK(h.summary().count == 200'000);
    CHECK(h.summary().max == Duration{49'999});
}

TEST_CASE("latency_histogram: an empty histogram summarises to zeros") {
    LatencyHistogram h;
    const auto s = h.summary();
    CHECK(s.count == 0);
    CHECK(s.p99 == Duration{0});
}

TEST_CASE("latency_histogram: a sample standing for several events weighs the weighted sum, not the percentiles") {
    LatencyHistogram h;
    const std::uint32_t slot = framepipe::detail::thread_slot();
    h.record(Duration{1000}, slot, 4);  // one timed frame standing for itself and three untimed ones
    h.record(Duration{3000}, slot);
    const auto s = h.summary();
    CHECK(s.count == 2);
    CHECK(s.mean == Duration{2000});
    CHECK(s.max == Duration{3000});
    CHECK(h.weighted_sum() == Duration{4 * 1000 + 3000});
}
