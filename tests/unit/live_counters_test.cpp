// LiveCounters: the running accumulator of a counts struct, addressed by member pointer; snapshots give every listed
// field, and concurrent updates are all counted.
#include "engine/live_counters.hpp"

#include <framepipe/edge.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <latch>
#include <thread>
#include <vector>

using framepipe::Duration;
using framepipe::EdgeCounts;
using framepipe::detail::LiveCounters;
using namespace std::chrono_literals;

TEST_CASE("live_counters: adds, peaks and times land in the snapshot's fields, and nothing else moves") {
    LiveCounters<EdgeCounts> live;
    live.add<&EdgeCounts::pushed>(3);
    live.add<&EdgeCounts::delivered>();
    live.add<&EdgeCounts::replaced>(2);
    live.raise_to<&EdgeCounts::peak_depth>(4);
    live.raise_to<&EdgeCounts::peak_depth>(2);  // lower: ignored
    live.add<&EdgeCounts::blocked_time>(Duration{5ms});
    live.add<&EdgeCounts::blocked_time>(Duration{1ms});
    const EdgeCounts c = live.snapshot();
    CHECK(c.pushed == 3);
    CHECK(c.delivered == 1);
    CHECK(c.replaced == 2);
    CHECK(c.dropped_oldest == 0);
    CHECK(c.dropped() == 2);
    CHECK(c.peak_depth == 4);
    CHECK(c.blocked_time == Duration{6ms});
    CHECK(live.load<&EdgeCounts::pushed>() == 3);
}

TEST_CASE("live_counters: concurrent adds and peaks are all counted") {
    LiveCounters<EdgeCounts> live;
    constexpr int kThreads = 4;
    constexpr std::uint64_t kEach = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&live, t] {
            for (std::uint64_t i = 0; i < kEach; ++i) {
                live.add<&EdgeCounts::pushed>();
                live.raise_to<&EdgeCounts::peak_depth>(static_cast<std::uint64_t>(t) * kEach + i);
            }
        });
    for (auto& thread : threads) thread.join();
    const EdgeCounts c = live.snapshot();
    CHECK(c.pushed == kThreads * kEach);
    CHECK(c.peak_depth == kThreads * kEach - 1);
}

TEST_CASE("live_counters: threads past the owned shards share one and none of their adds is lost") {
    LiveCounters<EdgeCounts> live;
    constexpr std::size_t kThreads = framepipe::detail::kOwnedShards + 8;  // all alive at once: slots differ
    constexpr std::uint64_t kEach = 5000;
    std::latch all_started(kThreads);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            all_started.arrive_and_wait();
            for (std::uint64_t i = 0; i < kEach; ++i) live.add<&EdgeCounts::pushed, &EdgeCounts::delivered>();
            live.add<&EdgeCounts::blocked_time>(Duration{1ms});
        });
    for (auto& thread : threads) thread.join();
    const EdgeCounts c = live.snapshot();
    CHECK(c.pushed == kThreads * kEach);
    CHECK(c.delivered == kThreads * kEach);
    CHECK(c.blocked_time == Duration{std::chrono::milliseconds(kThreads)});
    CHECK(live.load<&EdgeCounts::delivered>() == kThreads * kEach);
}
