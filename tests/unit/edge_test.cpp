// Edges (BoundedQueue): policies, bound, order, exactly-once delivery, close, maximum age.
#include "engine/bounded_queue.hpp"
#include "engine/frame_pool.hpp"
#include "support/stress.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>
#include <vector>

using framepipe::ManualClock;
using framepipe::Overflow;
using framepipe::SteadyClock;
using framepipe::detail::BoundedQueue;
using framepipe::detail::FramePool;
using framepipe::detail::FrameRef;
using namespace std::chrono_literals;

namespace {

using FrameQueue = BoundedQueue<FrameRef>;

FrameRef numbered(FramePool& pool, std::uint64_t sequence) {
    FrameRef frame = pool.try_acquire();
    REQUIRE(frame);
    frame->sequence = sequence;
    return frame;
}

std::vector<std::uint64_t> drain(FrameQueue& queue) {
    std::vector<std::uint64_t> out;
    FrameRef frame;
    while (queue.try_pop(frame)) {
        out.push_back(frame->sequence);
        frame.reset();
    }
    return out;
}

}  // namespace

TEST_CASE("edge.block: a full edge refuses the third frame and keeps it with the producer") {
    FramePool pool(8);
    FrameQueue queue({.capacity = 2, .overflow = Overflow::block});
    CHECK(queue.push(numbered(pool, 0)) == FrameQueue::PushResult::queued);
    CHECK(queue.push(numbered(pool, 1)) == FrameQueue::PushResult::queued);
    FrameRef third = numbered(pool, 2);
    CHECK(queue.push(std::move(third)) == FrameQueue::PushResult::full);
    REQUIRE(third);  // untouched: still the producer's
    CHECK(third->sequence == 2);
    CHECK(queue.size() == 2);
    CHECK(drain(queue) == std::vector<std::uint64_t>{0, 1});
    const auto c = queue.counters();
    CHECK(c.pushed == 2);
    CHECK(c.delivered == 2);
    CHECK(c.peak_depth == 2);
}

TEST_CASE("edge.drop_oldest: the oldest frame is evicted, counted and returned to its pool") {
    FramePool pool(8);
    FrameQueue queue({.capacity = 2, .overflow = Overflow::drop_oldest});
    queue.push(numbered(pool, 0));
    queue.push(numbered(pool, 1));
    CHECK(pool.in_use() == 2);
    CHECK(queue.push(numbered(pool, 2)) == FrameQueue::PushResult::replaced_oldest);
    CHECK(pool.in_use() == 2);  // frame 0 went back to the pool
    CHECK(drain(queue) == std::vector<std::uint64_t>{1, 2});
    const auto c = queue.counters();
    CHECK(c.pushed == 3);
    CHECK(c.dropped_oldest == 1);
    CHECK(c.delivered == 2);
    CHECK(pool.in_use() == 0);
}

TEST_CASE("edge.drop_newest: the incoming frame is rejected, counted and returned to its pool") {
    FramePool pool(8);
    FrameQueue queue({.capacity = 2, .overflow = Overflow::drop_newest});
    queue.push(numbered(pool, 0));
    queue.push(numbered(pool, 1));
    CHECK(queue.push(numbered(pool, 2)) == FrameQueue::PushResult::dropped_newest);
    CHECK(pool.in_use() == 2);
    CHECK(drain(queue) == std::vector<std::uint64_t>{0, 1});
    const auto c = queue.counters();
    CHECK(c.pushed == 3);
    CHECK(c.dropped_newest == 1);
}

TEST_CASE("edge.latest: only the newest frame waits; each push replaces the waiting one, counted as replaced") {
    FramePool pool(8);
    FrameQueue queue({.capacity = 4, .overflow = Overflow::latest});
    CHECK(queue.capacity() == 1);  // keeps one frame, whatever capacity was asked for
    CHECK(queue.push(numbered(pool, 0)) == FrameQueue::PushResult::queued);
    CHECK(queue.push(numbered(pool, 1)) == FrameQueue::PushResult::replaced);
    CHECK(queue.push(numbered(pool, 2)) == FrameQueue::PushResult::replaced);
    CHECK(pool.in_use() == 1);  // frames 0 and 1 went back to the pool
    CHECK(drain(queue) == std::vector<std::uint64_t>{2});
    CHECK(queue.push(numbered(pool, 3)) == FrameQueue::PushResult::queued);  // nothing waiting: nothing replaced
    CHECK(drain(queue) == std::vector<std::uint64_t>{3});
    const auto c = queue.counters();
    CHECK(c.pushed == 4);
    CHECK(c.replaced == 2);
    CHECK(c.dropped_oldest == 0);
    CHECK(c.dropped_newest == 0);
    CHECK(c.delivered == 2);
    CHECK(c.dropped() == 2);
    CHECK(c.peak_depth == 1);
    CHECK(c.balanced());
    CHECK(pool.in_use() == 0);
}

TEST_CASE("edge.latest: an expired newest frame is dropped as expired, not replaced") {
    ManualClock clock;
    FramePool pool(8);
    FrameQueue queue({.capacity = 1, .overflow = Overflow::latest});
    const auto t0 = clock.now();
    for (std::uint64_t i = 0; i < 3; ++i) {
        FrameRef frame = numbered(pool, i);
        frame->capture_time = t0 + i * 10ms;
        queue.push(std::move(frame));
    }
    clock.set(t0 + 40ms);  // the waiting frame (2) is 20 ms old
    const auto expired = [&](const FrameRef& f) { return clock.now() - f->capture_time > 15ms; };
    FrameRef frame;
    CHECK_FALSE(queue.try_pop(frame, expired));
    const auto c = queue.counters();
    CHECK(c.replaced == 2);
    CHECK(c.expired == 1);
    CHECK(c.delivered == 0);
    CHECK(c.balanced());
    CHECK(pool.in_use() == 0);
}

TEST_CASE("edge.latest: closing discards the waiting frame and later pushes, and they are counted as discarded") {
    BoundedQueue<int> queue({.capacity = 1, .overflow = Overflow::latest});
    queue.push(1);
    queue.push(2);
    queue.close_and_discard();
    CHECK(queue.push(3) == BoundedQueue<int>::PushResult::closed);
    const auto c = queue.counters();
    CHECK(c.pushed == 3);
    CHECK(c.replaced == 1);
    CHECK(c.discarded == 2);
    CHECK(c.queued == 0);
    CHECK(c.balanced());
}

TEST_CASE("edge.reservation: reserved slots count against the capacity") {
    BoundedQueue<int> queue({.capacity = 2, .overflow = Overflow::block});
    REQUIRE(queue.try_reserve());
    REQUIRE(queue.try_reserve());
    CHECK_FALSE(queue.try_reserve());
    CHECK(queue.push(7) == BoundedQueue<int>::PushResult::full);
    queue.cancel_reservation();
    queue.push_reserved(5);
    int item = 0;
    REQUIRE(queue.try_pop(item));
    CHECK(item == 5);
    CHECK(queue.size() == 0);
}

TEST_CASE("edge.reservation: reserve_wait gets the slot a consumer frees, and gives up when stopped") {
    BoundedQueue<int> queue({.capacity = 1, .overflow = Overflow::block});
    REQUIRE(queue.push(1) == BoundedQueue<int>::PushResult::queued);
    std::atomic<bool> reserved{false};
    std::thread waiter([&] { reserved = queue.reserve_wait({}); });
    int item = 0;
    REQUIRE(queue.try_pop(item));  // frees the only slot, which the waiter takes
    waiter.join();
    CHECK(reserved);
    CHECK_FALSE(queue.try_reserve());
    queue.push_reserved(2);

    std::stop_source stop;
    std::thread stopped([&] { reserved = queue.reserve_wait(stop.get_token()); });
    stop.request_stop();
    stopped.join();
    CHECK_FALSE(reserved);
    CHECK(queue.size() == 1);
}

TEST_CASE("edge.max_age: frames older than the limit when the consumer reaches them are dropped as expired") {
    ManualClock clock;
    FramePool pool(8);
    FrameQueue queue({.capacity = 4, .overflow = Overflow::block});
    const auto t0 = clock.now();
    for (int i = 0; i < 3; ++i) {
        FrameRef frame = numbered(pool, static_cast<std::uint64_t>(i));
        frame->capture_time = t0 + i * 10ms;
        queue.push(std::move(frame));
    }
    clock.set(t0 + 25ms);  // ages now: 25 ms, 15 ms, 5 ms
    const auto max_age = 12ms;
    const auto expired = [&](const FrameRef& f) { return clock.now() - f->capture_time > max_age; };
    FrameRef frame;
    REQUIRE(queue.try_pop(frame, expired));
    CHECK(frame->sequence == 2);
    frame.reset();
    const auto c = queue.counters();
    CHECK(c.expired == 2);
    CHECK(c.delivered == 1);
    CHECK(pool.in_use() == 0);
}

TEST_CASE("edge.close: every waiting producer and consumer wakes up") {
    BoundedQueue<int> full({.capacity = 1, .overflow = Overflow::block});
    BoundedQueue<int> empty({.capacity = 1, .overflow = Overflow::block});
    full.push(1);
    std::atomic<int> producers_returned{0};
    std::atomic<int> consumers_returned{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] {
            int item = 2;
            CHECK(full.push_wait(std::move(item), SteadyClock::instance()) == BoundedQueue<int>::PushResult::closed);
            producers_returned.fetch_add(1);
        });
        threads.emplace_back([&] {
            int item = 0;
            CHECK_FALSE(empty.pop_wait(item));
            consumers_returned.fetch_add(1);
        });
    }
    std::this_thread::sleep_for(20ms);  // let them block (the test passes either way)
    full.close();
    empty.close();
    for (auto& t : threads) t.join();
    CHECK(producers_returned == 4);
    CHECK(consumers_returned == 4);
    const auto c = full.counters();
    CHECK(c.discarded == 4);
    CHECK(c.pushed == c.delivered + c.discarded + c.queued);
}

TEST_CASE("edge.close: consumers still drain what was queued before the close") {
    BoundedQueue<int> queue({.capacity = 4, .overflow = Overflow::block});
    queue.push(1);
    queue.push(2);
    queue.close();
    CHECK(queue.push(3) == BoundedQueue<int>::PushResult::closed);
    int item = 0;
    REQUIRE(queue.pop_wait(item));
    CHECK(item == 1);
    REQUIRE(queue.pop_wait(item));
    CHECK(item == 2);
    CHECK_FALSE(queue.pop_wait(item));
}

namespace {

// Items carry (producer << 40) | sequence. Consumers check that each producer's items arrive in order and that every
// item arrives exactly once; a watcher checks the bound while it runs.
struct StressResult {
    std::uint64_t received = 0;
    bool ordered = true;
    bool exactly_once = true;
    std::size_t max_size_seen = 0;
    framepipe::detail::QueueCounters counters;
};

StressResult stress(Overflow overflow, int producers, int consumers, std::uint64_t per_producer, std::size_t capacity) {
    BoundedQueue<std::uint64_t> queue({.capacity = capacity, .overflow = overflow, .single_producer = producers == 1});
    std::vector<std::vector<std::atomic<std::uint8_t>>> seen(static_cast<std::size_t>(producers));
    for (auto& s : seen) s = std::vector<std::atomic<std::uint8_t>>(per_producer);
    std::atomic<bool> ordered{true};
    std::atomic<bool> once{true};
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> done{false};
    std::atomic<std::size_t> max_size{0};

    std::thread watcher([&] {
        while (!done.load()) {
            max_size.store(std::max(max_size.load(), queue.size()));
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> consumer_threads;
    for (int c = 0; c < consumers; ++c) {
        consumer_threads.emplace_back([&] {
            std::vector<std::int64_t> last(static_cast<std::size_t>(producers), -1);
            std::uint64_t item = 0;
            while (queue.pop_wait(item)) {
                const auto producer = static_cast<std::size_t>(item >> 40);
                const auto sequence = static_cast<std::int64_t>(item & ((1ull << 40) - 1));
                if (sequence <= last[producer]) ordered.store(false);
                last[producer] = sequence;
                if (seen[producer][static_cast<std::size_t>(sequence)].fetch_add(1) != 0) once.store(false);
                received.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::vector<std::thread> producer_threads;
    for (int p = 0; p < producers; ++p) {
        producer_threads.emplace_back([&, p] {
            for (std::uint64_t i = 0; i < per_producer; ++i)
                queue.push_wait((static_cast<std::uint64_t>(p) << 40) | i, SteadyClock::instance());
        });
    }
    for (auto& t : producer_threads) t.join();
    queue.close();
    for (auto& t : consumer_threads) t.join();
    done.store(true);
    watcher.join();

    StressResult result;
    result.received = received.load();
    result.ordered = ordered.load();
    result.exactly_once = once.load();
    result.max_size_seen = max_size.load();
    result.counters = queue.counters();
    return result;
}

}  // namespace

TEST_CASE("edge.stress.block: many producers and consumers, every item exactly once, in order per producer, "
          "never above capacity") {
    using framepipe::test::stress_items;
    for (const auto& shape : {std::pair{1, 1}, std::pair{4, 4}, std::pair{2, 6}}) {
        const int producers = shape.first;  // not a structured binding: clang 14 cannot capture one (CAPTURE)
        const int consumers = shape.second;
        CAPTURE(producers);
        CAPTURE(consumers);
        const std::uint64_t per_producer = stress_items(4'000'000) / static_cast<std::uint64_t>(producers);
        const StressResult r = stress(Overflow::block, producers, consumers, per_producer, 8);
        CHECK(r.received == per_producer * static_cast<std::uint64_t>(producers));
        CHECK(r.exactly_once);
        CHECK(r.ordered);
        CHECK(r.max_size_seen <= 8);
        CHECK(r.counters.peak_depth <= 8);
        CHECK(r.counters.pushed == r.counters.delivered);
    }
}

TEST_CASE("edge.stress.drop_oldest: under overload the bound holds, survivors are in order and nothing is counted "
          "twice") {
    using framepipe::test::stress_items;
    const int producers = 4;
    const std::uint64_t per_producer = stress_items(1'000'000);
    const StressResult r = stress(Overflow::drop_oldest, producers, 2, per_producer, 4);
    CHECK(r.exactly_once);
    CHECK(r.ordered);
    CHECK(r.max_size_seen <= 4);
    CHECK(r.counters.peak_depth <= 4);
    CHECK(r.counters.pushed == per_producer * producers);
    CHECK(r.counters.pushed == r.counters.delivered + r.counters.dropped_oldest);
    CHECK(r.received == r.counters.delivered);
}

TEST_CASE("edge.stress.latest: producers never wait, at most one frame waits, survivors are in order and every frame "
          "is delivered or replaced exactly once") {
    using framepipe::test::stress_items;
    for (const auto& shape : {std::pair{1, 1}, std::pair{4, 2}}) {
        const int producers = shape.first;  // not a structured binding: clang 14 cannot capture one (CAPTURE)
        const int consumers = shape.second;
        CAPTURE(producers);
        CAPTURE(consumers);
        const std::uint64_t per_producer = stress_items(1'000'000) / static_cast<std::uint64_t>(producers);
        const StressResult r = stress(Overflow::latest, producers, consumers, per_producer, 8);
        CHECK(r.exactly_once);
        CHECK(r.ordered);
        CHECK(r.max_size_seen <= 1);
        CHECK(r.counters.peak_depth <= 1);
        CHECK(r.counters.pushed == per_producer * static_cast<std::uint64_t>(producers));
        CHECK(r.counters.pushed == r.counters.delivered + r.counters.replaced);
        CHECK(r.counters.blocked_time == framepipe::Duration{});
        CHECK(r.received == r.counters.delivered);
    }
}
