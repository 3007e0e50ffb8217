#pragma once
// LiveCounters<Counts>: the running accumulator of a counts struct (see include/framepipe/counters.hpp), one atomic per
// listed field, addressed by member pointer at compile time: `counters.add<&EdgeCounts::pushed>()`.
//
// Thread-safety: every member may be called concurrently. Updates are relaxed; a snapshot() is not atomic across
// fields (each field is read once), so callers that need an identity to hold read it after the writers are done.

#include <framepipe/counters.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace framepipe::detail {

template <class Counts>
class LiveCounters {
public:
    template <std::uint64_t Counts::*Member>
    void add(std::uint64_t n = 1) noexcept {
        counts_[index_of<Member>()].fetch_add(n, std::memory_order_relaxed);
    }

    /// Raises a level field to `value` if that is higher (a peak).
    template <std::uint64_t Counts::*Member>
    void raise_to(std::uint64_t value) noexcept {
        std::atomic<std::uint64_t>& slot = counts_[index_of<Member>()];
        std::uint64_t seen = slot.load(std::memory_order_relaxed);
        while (value > seen && !slot.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
        }
    }

    template <Duration Counts::*Member>
    void add(Duration d) noexcept {
        times_[time_index_of<Member>()].fetch_add(d.count(), std::memory_order_relaxed);
    }

    template <std::uint64_t Counts::*Member>
    [[nodiscard]] std::uint64_t load() const noexcept {
        return counts_[index_of<Member>()].load(std::memory_order_relaxed);
    }

    [[nodiscard]] Counts snapshot() const noexcept {
        Counts c;
        for (std::size_t i = 0; i < kCounters.size(); ++i) c.*kCounters[i].member = counts_[i].load();
        for (std::size_t i = 0; i < kTimes.size(); ++i) c.*kTimes[i].member = Duration{times_[i].load()};
        return c;
    }

private:
    static constexpr auto kCounters = Counts::counters();
    static constexpr auto kTimes = Counts::times();

    template <std::uint64_t Counts::*Member>
    static constexpr std::size_t index_of() noexcept {
        constexpr std::size_t index = [] {
            for (std::size_t i = 0; i < kCounters.size(); ++i)
                if (kCounters[i].member == Member) return i;
            return kCounters.size();
        }();
        static_assert(index < kCounters.size(), "not a listed counter of this counts struct");
        return index;
    }
    template <Duration Counts::*Member>
    static constexpr std::size_t time_index_of() noexcept {
        constexpr std::size_t index = [] {
            for (std::size_t i = 0; i < kTimes.size(); ++i)
                if (kTimes[i].member == Member) return i;
            return kTimes.size();
        }();
        static_assert(index < kTimes.size(), "not a listed time of this counts struct");
        return index;
    }

    std::array<std::atomic<std::uint64_t>, kCounters.size()> counts_{};
    std::array<std::atomic<Duration::rep>, kTimes.size()> times_{};
};

}  // namespace framepipe::detail
