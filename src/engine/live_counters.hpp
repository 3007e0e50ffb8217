#pragma once
// LiveCounters<Counts>: the running accumulator of a counts struct (see include/framepipe/counters.hpp), one slot per
// listed field, addressed by member pointer at compile time: `counters.add<&EdgeCounts::pushed>()`.
//
// Sharded by thread (ThreadShards), like LatencyHistogram: add() is a plain relaxed load and store into the adding
// thread's shard, a few nanoseconds per counter instead of a locked instruction. Levels (CounterRole::level, raised by
// raise_to()) are one atomic each. Readers sum the shards.
//
// Thread-safety: every member may be called concurrently. A snapshot() is not atomic across fields or shards (each is
// read once, and may trail a concurrent add), so callers that need an identity to hold read it after the writers are
// done.

#include "thread_shards.hpp"

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
        add_to<Member>(mine(), n);
    }
    /// Adds one to each of the fields (one shard lookup for all).
    template <std::uint64_t Counts::*First, std::uint64_t Counts::*Second, std::uint64_t Counts::*... More>
    void add() noexcept {
        Shard* own = mine();
        add_to<First>(own);
        add_to<Second>(own);
        (add_to<More>(own), ...);
    }

    /// Raises a level field to `value` if that is higher (a peak).
    template <std::uint64_t Counts::*Member>
    void raise_to(std::uint64_t value) noexcept {
        static_assert(kCounters[index_of<Member>()].role == CounterRole::level, "only a level is raised");
        std::atomic<std::uint64_t>& level = levels_[index_of<Member>()];
        std::uint64_t seen = level.load(std::memory_order_relaxed);
        while (value > seen && !level.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
        }
    }

    template <Duration Counts::*Member>
    void add(Duration d) noexcept {
        add_into(mine(), &Shard::times, time_index_of<Member>(), d.count());
    }

    /// The field's total so far: a sum over the shards, not for a per-frame path.
    template <std::uint64_t Counts::*Member>
    [[nodiscard]] std::uint64_t load() const noexcept {
        constexpr std::size_t i = index_of<Member>();
        std::uint64_t total = levels_[i].load(std::memory_order_relaxed);
        shards_.for_each([&](const Shard& shard) { total += shard.counts[i].load(std::memory_order_relaxed); });
        return total;
    }

    [[nodiscard]] Counts snapshot() const noexcept {
        Counts c;
        for (std::size_t i = 0; i < kCounters.size(); ++i) c.*kCounters[i].member = levels_[i].load();
        for (std::size_t i = 0; i < kTimes.size(); ++i) c.*kTimes[i].member = Duration{0};
        shards_.for_each([&](const Shard& shard) {
            for (std::size_t i = 0; i < kCounters.size(); ++i) c.*kCounters[i].member += shard.counts[i].load();
            for (std::size_t i = 0; i < kTimes.size(); ++i) c.*kTimes[i].member += Duration{shard.times[i].load()};
        });
        return c;
    }

private:
    static constexpr auto kCounters = Counts::counters();
    static constexpr auto kTimes = Counts::times();

    struct alignas(64) Shard {
        std::array<std::atomic<std::uint64_t>, kCounters.size()> counts{};
        std::array<std::atomic<Duration::rep>, kTimes.size()> times{};
    };

    template <std::uint64_t Counts::*Member>
    void add_to(Shard* own, std::uint64_t n = 1) noexcept {
        static_assert(kCounters[index_of<Member>()].role != CounterRole::level, "a level is raised, not added");
        add_into(own, &Shard::counts, index_of<Member>(), n);
    }
    // Adds `n` to field i of `array`: in `own`, this thread's shard, or with a read-modify-write in the shared one.
    template <class Array, class T>
    void add_into(Shard* own, Array Shard::*array, std::size_t i, T n) noexcept {
        if (own != nullptr)
            add_single_writer((own->*array)[i], n);
        else
            (shards_.shared().*array)[i].fetch_add(n, std::memory_order_relaxed);
    }
    Shard* mine() noexcept { return shards_.owned(thread_slot()); }

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

    ThreadShards<Shard> shards_;
    std::array<std::atomic<std::uint64_t>, kCounters.size()> levels_{};  // only the level fields move
};

}  // namespace framepipe::detail
