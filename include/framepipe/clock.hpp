#pragma once
// Time as the engine sees it. Every timestamp a frame carries (capture, enter and leave of each stage), every
// time-dependent decision (maximum frame age, edge full time, a drain timeout, a read timeout) and every wait on time
// (a live source's pacing, the backoff between reconnects) goes through one Clock: the pipeline's
// (PipelineOptions::clock), which reaches the sources (Source::clock()), the stages (StageContext::clock), the
// supervisor and the reconnect loop. Wall-clock text and file names ({clock}, live event and recording names) come
// from the same clock (wall_now, wall_time). So tests inject a ManualClock and assert exact ages, latencies, drops,
// backoffs and timeouts in simulated time, without sleeping.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>

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

    /// Waits until now() reaches `due`, or until `stop` is requested; true unless `stop` was requested. For a source
    /// that paces itself and for the waits between reconnection attempts. This default is for clocks that run at real
    /// speed: it sleeps for what is left by now() (measured on steady_clock), interruptibly, and allocates nothing
    /// after a thread's first call. A simulated clock returns when it is moved past `due` (ManualClock).
    virtual bool sleep_until(TimePoint due, std::stop_token stop = {}) const;

    /// Calendar time now, for what people read ({clock} text, live event and recording names). Default:
    /// system_clock::now().
    [[nodiscard]] virtual std::chrono::system_clock::time_point wall_now() const noexcept;
    /// Calendar time of a time point of this clock (a frame's capture time). Default: steady_clock's time plus one
    /// system-minus-steady offset taken once per process, so the same frame always gets the same name.
    [[nodiscard]] virtual std::chrono::system_clock::time_point wall_time(TimePoint t) const noexcept;
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
/// use). Profiling reads the clock once per stage per timed frame, so this is what keeps profiling cheap.
const Clock& default_clock() noexcept;

/// A clock that moves only when told to (simulated time). Thread-safe: advance() and set() may race with now() and
/// with sleepers. sleep_until() returns once advance() or set() moved the clock to its deadline (or on stop), so a
/// test steps time and the source, reconnect loop or supervisor that waits on it reacts, without sleeping for real.
/// Its calendar time moves with it, from 2026-01-01 00:00:00 UTC at `start` unless set_wall() says otherwise.
///
/// Stepping without races: a thread is a "sleeper" while it waits in sleep_until() for a deadline still ahead.
/// wait_for_sleepers(n) waits (in real time, bounded) until n threads sleep, i.e. until everything that will wait on
/// the clock has got there; then advance_to_next_wake() moves the clock to the earliest deadline.
class ManualClock final : public Clock {
public:
    explicit ManualClock(TimePoint start = TimePoint{Duration{1'000'000'000}});
    [[nodiscard]] TimePoint now() const noexcept override { return TimePoint{Duration{ns_.load()}}; }
    void advance(Duration by) noexcept;
    void set(TimePoint to) noexcept;

    bool sleep_until(TimePoint due, std::stop_token stop = {}) const override;
    [[nodiscard]] std::chrono::system_clock::time_point wall_now() const noexcept override { return wall_time(now()); }
    [[nodiscard]] std::chrono::system_clock::time_point wall_time(TimePoint t) const noexcept override;
    /// Makes the calendar time now `wall` (it keeps moving with the clock).
    void set_wall(std::chrono::system_clock::time_point wall) noexcept;

    /// Threads waiting in sleep_until() for a deadline still ahead.
    [[nodiscard]] std::size_t sleepers() const;
    /// Waits until at least `n` threads sleep on this clock, or `limit` of real time passed (a safety bound for tests,
    /// not a measure); true when they do.
    bool wait_for_sleepers(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(30)) const;
    /// The earliest deadline of the sleepers; none when nobody sleeps.
    [[nodiscard]] std::optional<TimePoint> next_wake() const;
    /// Moves the clock to next_wake() (waking that sleeper); returns the new time, or none when nobody sleeps.
    std::optional<TimePoint> advance_to_next_wake();

private:
    std::atomic<std::int64_t> ns_;
    std::atomic<std::int64_t> wall_minus_ns_;  // calendar time (system_clock ns since 1970) minus ns_
    mutable std::mutex mutex_;  // guards deadlines_; held while moving, so no sleeper misses its wake-up
    mutable std::condition_variable_any changed_;  // the time moved or a sleeper came or went
    mutable std::multiset<std::int64_t> deadlines_;
};

}  // namespace framepipe
