#include <framepipe/clock.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace framepipe {
namespace {

#if defined(__x86_64__)
bool invariant_tsc() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
        if (line.rfind("flags", 0) == 0)
            return line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
    return false;
}

class TscClock final : public Clock {
public:
    TscClock() {
        // Two readings 20 ms apart give the counter's rate; steady_clock's time at the first gives its origin.
        const auto t0 = std::chrono::steady_clock::now();
        const unsigned long long c0 = __rdtsc();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const auto t1 = std::chrono::steady_clock::now();
        const unsigned long long c1 = __rdtsc();
        ns_per_tick_ = static_cast<double>((t1 - t0).count()) / static_cast<double>(c1 - c0);
        origin_ns_ = t0.time_since_epoch().count();
        origin_ticks_ = c0;
    }
    [[nodiscard]] TimePoint now() const noexcept override {
        const auto ticks = static_cast<double>(static_cast<long long>(__rdtsc() - origin_ticks_));
        return TimePoint{Duration{origin_ns_ + static_cast<std::int64_t>(ticks * ns_per_tick_)}};
    }

private:
    double ns_per_tick_ = 1;
    std::int64_t origin_ns_ = 0;
    unsigned long long origin_ticks_ = 0;
};
#endif

}  // namespace

bool Clock::sleep_until(TimePoint due, std::stop_token stop) const {
    thread_local std::mutex mutex;                   // only this thread waits on them; the stop callback notifies
    thread_local std::condition_variable_any wake;  // (made once per thread: the condition variable allocates)
    const Duration left = due - now();
    if (left > Duration::zero()) {
        std::unique_lock lock(mutex);
        wake.wait_until(lock, stop, std::chrono::steady_clock::now() + left, [] { return false; });
    }
    return !stop.stop_requested();
}

std::chrono::system_clock::time_point Clock::wall_now() const noexcept { return std::chrono::system_clock::now(); }

std::chrono::system_clock::time_point Clock::wall_time(TimePoint t) const noexcept {
    static const auto wall_minus_steady = std::chrono::system_clock::now().time_since_epoch() -
                                          std::chrono::steady_clock::now().time_since_epoch();
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch() + wall_minus_steady));
}

namespace {
// 2026-01-01 00:00:00 UTC in nanoseconds since 1970.
constexpr std::int64_t kManualWallStart = 1'767'225'600LL * 1'000'000'000LL;
}  // namespace

ManualClock::ManualClock(TimePoint start)
    : ns_(start.time_since_epoch().count()), wall_minus_ns_(kManualWallStart - start.time_since_epoch().count()) {}

void ManualClock::advance(Duration by) noexcept {
    {
        std::lock_guard lock(mutex_);
        ns_.fetch_add(by.count());
    }
    changed_.notify_all();
}

void ManualClock::set(TimePoint to) noexcept {
    {
        std::lock_guard lock(mutex_);
        ns_.store(to.time_since_epoch().count());
    }
    changed_.notify_all();
}

bool ManualClock::sleep_until(TimePoint due, std::stop_token stop) const {
    const std::int64_t deadline = due.time_since_epoch().count();
    std::unique_lock lock(mutex_);
    const auto mine = deadlines_.insert(deadline);
    changed_.notify_all();  // for wait_for_sleepers
    changed_.wait(lock, stop, [&] { return ns_.load() >= deadline; });
    deadlines_.erase(mine);
    lock.unlock();
    changed_.notify_all();
    return !stop.stop_requested();
}

std::chrono::system_clock::time_point ManualClock::wall_time(TimePoint t) const noexcept {
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        Duration{t.time_since_epoch().count() + wall_minus_ns_.load()}));
}

void ManualClock::set_wall(std::chrono::system_clock::time_point wall) noexcept {
    wall_minus_ns_.store(std::chrono::duration_cast<Duration>(wall.time_since_epoch()).count() - ns_.load());
}

std::size_t ManualClock::sleepers() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::distance(deadlines_.upper_bound(ns_.load()), deadlines_.end()));
}

bool ManualClock::wait_for_sleepers(std::size_t n, std::chrono::milliseconds limit) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] {
        return static_cast<std::size_t>(std::distance(deadlines_.upper_bound(ns_.load()), deadlines_.end())) >= n;
    });
}

std::optional<TimePoint> ManualClock::next_wake() const {
    std::lock_guard lock(mutex_);
    const auto next = deadlines_.upper_bound(ns_.load());
    if (next == deadlines_.end()) return std::nullopt;
    return TimePoint{Duration{*next}};
}

std::optional<TimePoint> ManualClock::advance_to_next_wake() {
    std::optional<TimePoint> to;
    {
        std::lock_guard lock(mutex_);
        const auto next = deadlines_.upper_bound(ns_.load());
        if (next == deadlines_.end()) return std::nullopt;
        ns_.store(*next);
        to = TimePoint{Duration{*next}};
    }
    changed_.notify_all();
    return to;
}

const Clock& default_clock() noexcept {
#if defined(__x86_64__)
    static const bool use_tsc = invariant_tsc();
    if (use_tsc) {
        static const TscClock clock;
        return clock;
    }
#endif
    return SteadyClock::instance();
}

}  // namespace framepipe
