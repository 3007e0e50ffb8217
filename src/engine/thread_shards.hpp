#pragma once
// ThreadShards<Shard>: a statistic's accumulators, one copy per recording thread (LatencyHistogram, LiveCounters). The
// thread holding thread_slot() i writes shard i only, created on its first write (one allocation per thread per
// statistic), so a write is plain relaxed stores (add_single_writer): no lock, no atomic read-modify-write, no cache
// line shared with another worker. Threads past kOwnedShards share one shard, written with atomic read-modify-writes.
// Readers visit every shard; a reading may trail a concurrent write.
//
// Thread-safety: owned(slot) only from the thread holding `slot`; shared() and for_each() from any thread.

#include "thread_slot.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace framepipe::detail {

/// Adds to a value that only the calling thread writes (a shard of its thread_slot()): a relaxed load and store, no
/// atomic read-modify-write. Readers on other threads see each store whole.
template <class T>
[[gnu::always_inline]] inline void add_single_writer(std::atomic<T>& value, T by) noexcept {
    value.store(value.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

/// Threads with a slot below this have shards of their own.
inline constexpr std::size_t kOwnedShards = 64;

template <class Shard>
class ThreadShards {
public:
    ThreadShards() = default;
    ThreadShards(const ThreadShards&) = delete;
    ThreadShards& operator=(const ThreadShards&) = delete;
    ~ThreadShards() {
        for (auto& owned : owned_) delete owned.load();
    }

    /// The shard of the calling thread, which holds `slot`; nullptr for a slot past kOwnedShards (or out of memory): the
    /// caller then writes shared().
    Shard* owned(std::uint32_t slot) noexcept {
        if (slot >= kOwnedShards) return nullptr;
        Shard* shard = owned_[slot].load(std::memory_order_relaxed);
        return shard != nullptr ? shard : create(slot);
    }
    Shard& shared() noexcept { return shared_; }

    template <class F>
    void for_each(F&& f) const noexcept {
        for (const auto& owned : owned_)
            if (const Shard* shard = owned.load(std::memory_order_acquire)) f(*shard);
        f(shared_);
    }

private:
    [[gnu::noinline]] Shard* create(std::uint32_t slot) noexcept {
        Shard* shard = new (std::nothrow) Shard;
        if (shard != nullptr) owned_[slot].store(shard, std::memory_order_release);
        return shard;
    }

    std::array<std::atomic<Shard*>, kOwnedShards> owned_{};  // slot i written only by the thread holding slot i
    Shard shared_;
};

}  // namespace framepipe::detail
