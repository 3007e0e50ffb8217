#pragma once
// LiveCounters<Counts>: the running accumulator of a counts struct (see include/framepipe/counters.hpp), one slot per
// listed field, addressed by member pointer at compile time: `counters.add<&EdgeCounts::pushed>()`.
//
// Sharded by thread, like LatencyHistogram: each thread adds into a shard of its own (created on its first add, written
// by that thread only), so add() is a plain relaxed load and store, with no atomic read-modify-write and no cache line
// shared with another worker; a counted frame path costs a few nanoseconds per counter instead of a locked
// instruction. Threads past kOwnedSlots share one shard with atomic read-modify-writes. Levels (CounterRole::level,
// raised by raise_to()) are one atomic each. Readers sum the shards.
//
// Thread-safety: every member may be called concurrently. A snapshot() is not atomic across fields or shards (each is
// read once, and may trail a concurrent add), so callers that need an identity to hold read it after the writers are
// done.

#include "thread_slot.hpp"

#include <framepipe/counters.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace framepipe::detail {

template <class Counts>
class LiveCounters {
public:
    static constexpr std::size_t kOwnedSlots = 64;

    LiveCounters() = default;
    LiveCounters(const LiveCounters&) = delete;
    LiveCounters& operator=(const LiveCounters&) = delete;
    ~LiveCounters() {
        for (auto& owned : owned_) delete owned.load();
    }

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
        if (Shard* own = mine())
            add_single_writer(own->times[time_index_of<Member>()], d.count());
        else
            shared_.times[time_index_of<Member>()].fetch_add(d.count(), std::memory_order_relaxed);
    }

    /// The field's total so far: a sum over the shards, not for a per-frame path.
    template <std::uint64_t Counts::*Member>
    [[nodiscard]] std::uint64_t load() const noexcept {
        constexpr std::size_t i = index_of<Member>();
        std::uint64_t total = levels_[i].load(std::memory_order_relaxed);
        for_each_shard([&](const Shard& shard) { total += shard.counts[i].load(std::memory_order_relaxed); });
        return total;
    }

    [[nodiscard]] Counts snapshot() const noexcept {
        Counts c;
        for (std::size_t i = 0; i < kCounters.size(); ++i) c.*kCounters[i].member = levels_[i].load();
        for (std::size_t i = 0; i < kTimes.size(); ++i) c.*kTimes[i].member = Duration{0};
        for_each_shard([&](const Shard& shard) {
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
        if (own != nullptr)
            add_single_writer(own->counts[index_of<Member>()], n);
        else
            shared_.counts[index_of<Member>()].fetch_add(n, std::memory_order_relaxed);
    }

    // This thread's shard, created on first use; nullptr for a thread past kOwnedSlots (or out of memory).
    Shard* mine() noexcept {
        const std::uint32_t slot = thread_slot();
        if (slot >= kOwnedSlots) return nullptr;
        Shard* shard = owned_[slot].load(std::memory_order_relaxed);
        return shard != nullptr ? shard : create(slot);
    }
    [[gnu::noinline]] Shard* create(std::uint32_t slot) noexcept {
        Shard* shard = new (std::nothrow) Shard;
        if (shard != nullptr) owned_[slot].store(shard, std::memory_order_release);
        return shard;
    }

    template <class F>
    void for_each_shard(F&& f) const noexcept {
        for (const auto& owned : owned_)
            if (const Shard* shard = owned.load(std::memory_order_acquire)) f(*shard);
        f(shared_);
    }

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

    std::array<std::atomic<Shard*>, kOwnedSlots> owned_{};  // slot i written only by the thread holding slot i
    Shard shared_;                                          // the threads past kOwnedSlots, with read-modify-writes
    std::array<std::atomic<std::uint64_t>, kCounters.size()> levels_{};  // only the level fields move
};

}  // namespace framepipe::detail
