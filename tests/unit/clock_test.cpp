// ManualClock: simulated time that sleepers wait on, stepped by a test without races; calendar time that moves with it.
#include "support/local_time.hpp"

#include <framepipe/clock.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <stop_token>
#include <thread>

using namespace framepipe;
using framepipe::test::local_time;
using namespace std::chrono_literals;

TEST_CASE("clock: a sleeper on a manual clock wakes when the clock is moved to its deadline, not before") {
    ManualClock clock;
    const TimePoint start = clock.now();
    std::atomic<bool> woke{false};
    std::atomic<std::int64_t> woke_at{0};
    std::thread sleeper([&] {
        CHECK(clock.sleep_until(start + 250ms));
        woke_at.store(clock.now().time_since_epoch().count());
        woke.store(true);
    });
    REQUIRE(clock.wait_for_sleepers(1));
    CHECK(clock.sleepers() == 1);
    CHECK(clock.next_wake() == start + 250ms);
    clock.advance(249ms);
    CHECK(clock.sleepers() == 1);  // still ahead: asleep, whatever the thread is doing
    CHECK(clock.advance_to_next_wake() == start + 250ms);
    sleeper.join();
    CHECK(woke.load());
    CHECK(woke_at.load() == (start + 250ms).time_since_epoch().count());
    CHECK(clock.sleepers() == 0);
    CHECK_FALSE(clock.next_wake().has_value());
    CHECK_FALSE(clock.advance_to_next_wake().has_value());
}

TEST_CASE("clock: a deadline already reached does not sleep; a stop request ends a sleep at once") {
    ManualClock clock;
    CHECK(clock.sleep_until(clock.now()));
    CHECK(clock.sleep_until(clock.now() - 1s));
    std::stop_source stop;
    std::thread sleeper([&] { CHECK_FALSE(clock.sleep_until(clock.now() + 1h, stop.get_token())); });
    REQUIRE(clock.wait_for_sleepers(1));
    stop.request_stop();
    sleeper.join();
    CHECK(clock.sleepers() == 0);
    // The real clocks end a sleep on stop too (a stop requested before: no wait at all).
    std::stop_source stopped;
    stopped.request_stop();
    CHECK_FALSE(SteadyClock::instance().sleep_until(SteadyClock::instance().now() + 1h, stopped.get_token()));
    CHECK(SteadyClock::instance().sleep_until(SteadyClock::instance().now() - 1s));
}

TEST_CASE("clock: several sleepers wake in deadline order as the clock steps from one to the next") {
    ManualClock clock;
    const TimePoint start = clock.now();
    std::atomic<int> order{0};
    std::atomic<int> first{-1}, second{-1};
    std::thread late([&] {
        clock.sleep_until(start + 2s);
        second.store(order.fetch_add(1));
    });
    std::thread early([&] {
        clock.sleep_until(start + 1s);
        first.store(order.fetch_add(1));
    });
    REQUIRE(clock.wait_for_sleepers(2));
    CHECK(clock.advance_to_next_wake() == start + 1s);
    early.join();
    CHECK(first.load() == 0);
    CHECK(clock.sleepers() == 1);
    CHECK(clock.advance_to_next_wake() == start + 2s);
    late.join();
    CHECK(second.load() == 1);
}

TEST_CASE("clock: a manual clock's calendar time moves with it and can be set") {
    ManualClock clock;
    const auto at_start = clock.wall_now();
    clock.advance(1500ms);
    CHECK(clock.wall_now() - at_start == 1500ms);
    CHECK(clock.wall_time(clock.now() - 500ms) - at_start == 1000ms);
    const auto new_year_eve = local_time(2026, 12, 31, 23, 59, 59);
    clock.set_wall(new_year_eve);
    CHECK(clock.wall_now() == new_year_eve);
    clock.advance(1s);
    CHECK(clock.wall_now() == new_year_eve + 1s);
    // Real clocks: one offset per process, so the same time point always gets the same calendar time.
    const Clock& real = default_clock();
    const TimePoint t = real.now();
    CHECK(real.wall_time(t) == real.wall_time(t));
    CHECK(real.wall_time(t + 1s) - real.wall_time(t) == 1s);
}
