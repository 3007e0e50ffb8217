// ReorderWindow: frames finished out of order by concurrent workers leave in input order.
#include "engine/bounded_queue.hpp"
#include "engine/reorder_window.hpp"
#include "support/stress.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

using framepipe::Overflow;
using framepipe::detail::BoundedQueue;
using framepipe::detail::ReorderWindow;

TEST_CASE("reorder_window: a frame finished early waits for the earlier one still in process") {
    ReorderWindow<std::optional<int>> window(4);
    std::vector<int> emitted;
    const auto emit = [&](std::optional<int> v) { emitted.push_back(v.value_or(-1)); };
    const int a = window.claim();
    window.begin_pop();
    window.assign(a, 10);
    window.end_pop();
    const int b = window.claim();
    window.begin_pop();
    window.assign(b, 11);
    window.end_pop();
    window.complete(b, 11);
    window.release(emit);
    CHECK(emitted.empty());
    window.complete(a, 10);
    window.release(emit);
    CHECK(emitted == std::vector<int>{10, 11});
    CHECK(window.occupied() == 0);
}

TEST_CASE("reorder_window: a dropped frame is released as empty and does not hold up the rest") {
    ReorderWindow<std::optional<int>> window(2);
    std::vector<int> emitted;
    const auto emit = [&](std::optional<int> v) { emitted.push_back(v.value_or(-1)); };
    const int a = window.claim();
    window.assign(a, 1);
    const int b = window.claim();
    window.assign(b, 2);
    CHECK(window.claim() == -1);  // full
    window.complete(b, 2);
    window.complete(a, std::nullopt);
    window.release(emit);
    CHECK(emitted == std::vector<int>{-1, 2});
}

// Six workers on two cores, so takes and releases interleave in every possible way. Before the take counter became
// a version checked around the whole scan, this failed about once per 2 million items.
TEST_CASE("reorder_window.stress: workers taking from a FIFO edge and finishing in random order emit in order") {
    const int items = static_cast<int>(framepipe::test::stress_items(3'000'000));
    BoundedQueue<int> input({.capacity = 16, .overflow = Overflow::block});
    ReorderWindow<int> window(10);
    std::vector<int> emitted;
    emitted.reserve(static_cast<std::size_t>(items));
    const auto emit = [&](int v) { emitted.push_back(v); };  // release() runs emit from one thread at a time
    std::thread producer([&] {
        for (int i = 0; i < items; ++i) input.push_wait(int{i}, framepipe::SteadyClock::instance());
        input.close();
    });
    std::vector<std::thread> workers;
    for (int w = 0; w < 6; ++w) {
        workers.emplace_back([&, w] {
            std::minstd_rand random(static_cast<unsigned>(w * 7919 + 1));
            for (;;) {
                const int entry = window.claim();
                if (entry < 0) {
                    window.release(emit);
                    std::this_thread::yield();
                    continue;
                }
                window.begin_pop();
                int value = 0;
                const bool got = input.try_pop(value);
                if (got)
                    window.assign(entry, static_cast<std::uint64_t>(value));
                else
                    window.unclaim(entry);
                window.end_pop();
                if (!got) {
                    window.release(emit);
                    if (input.closed() && input.size() == 0) return;
                    std::this_thread::yield();
                    continue;
                }
                for (unsigned spin = random() % 200; spin > 0; --spin) std::atomic_signal_fence(std::memory_order_seq_cst);
                window.complete(entry, int{value});
                window.release(emit);
            }
        });
    }
    producer.join();
    for (auto& w : workers) w.join();
    window.release(emit);
    REQUIRE(emitted.size() == static_cast<std::size_t>(items));
    int first_out_of_order = -1;
    for (int i = 0; i < items && first_out_of_order < 0; ++i)
        if (emitted[static_cast<std::size_t>(i)] != i) first_out_of_order = i;
    CHECK(first_out_of_order == -1);
}
