#pragma once
// Time as the engine sees it. Every timestamp a frame carries (capture, enter and leave of each stage) and every
// time-dependent decision (maximum frame age, edge full time) reads a Clock, so tests can inject a ManualClock and
// assert exact ages and latencies without sleeping.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace framepipe {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

/// A duration as a floating-point number of seconds, or of milliseconds (for reports, rates and messages).
[[nodiscard]] constexpr double in_seconds(Duration d) noexcept { return std::chrono::duration<double>(d).count(); }
[[nodiscard]] constexpr double in_ms(Duration d) noexcept { return std::chrono::duration<double, std::milli>(d).count(); }

/// The longest duration framepipe takes from a user or derives from an input: 100 years. A time point plus one, or the
/// difference of two media times within it, stays inside Duration's +-292 years.
inline constexpr Duration kLongestDuration = std::chrono::hours(24 * 36525);

/// Seconds as a Duration, clamped to +-kLongestDuration (NaN: zero). For values computed from what an input states (a
/// timestamp a file gives can be any 64-bit number, in any time base), which may be absurd but must not overflow.
[[nodiscard]] constexpr Duration duration_from_seconds(double seconds) noexcept {
    constexpr double limit = std::chrono::duration<double>(kLongestDuration).count();
    if (seconds != seconds) return Duration{0};
    if (seconds >= limit) return kLongestDuration;
    if (seconds <= -limit) return -kLongestDuration;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

/// A monotonic clock. Implementations must be callable from any thread at any time.
class Clock {
public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual TimePoint now() const noexcept = 0;
};

/// std::chrono::steady_clock.
class SteadyClock final : public Clock {
public:
    [[nodiscard]] TimePoint now() const noexcept override { return std::chrono::steady_clock::now(); }
    /// A process-wide instance; safe to share.
    static const SteadyClock& instance() noexcept;
};

/// The default clock of every pipeline: steady_clock's time, read through the CPU's time-stamp counter when the
/// processor says it is invariant (constant rate, running in every power state), which costs a third of a
/// clock_gettime call; otherwise steady_clock itself. Calibrated once per process against steady_clock (20 ms, on first
/// use). Profiling reads the clock twice per stage per frame, so this is what keeps profiling cheap.
const Clock& default_clock() noexcept;

/// A clock that moves only when told to. Thread-safe: advance() may race with now().
class ManualClock final : public Clock {
public:
    explicit ManualClock(TimePoint start = TimePoint{Duration{1'000'000'000}}) : ns_(start.time_since_epoch().count()) {}
    [[nodiscard]] TimePoint now() const noexcept override { return TimePoint{Duration{ns_.load()}}; }
    void advance(Duration by) noexcept { ns_.fetch_add(by.count()); }
    void set(TimePoint to) noexcept { ns_.store(to.time_since_epoch().count()); }

private:
    std::atomic<std::int64_t> ns_;
};

}  // namespace framepipe
