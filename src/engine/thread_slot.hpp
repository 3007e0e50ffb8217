#pragma once
// A small number per live thread: shards per-thread statistics (each shard has a single writer, so recording needs no
// atomic read-modify-write) and names the worker a frame ran on in traces. A thread's number goes back to the pool
// when it exits, so numbers stay small however many threads a process starts over time.

#include <cstdint>
#include <mutex>
#include <vector>

namespace framepipe::detail {

class ThreadSlots {
public:
    static ThreadSlots& instance() {
        static ThreadSlots* slots = new ThreadSlots;  // never destroyed: thread exits may outlive static destruction
        return *slots;
    }
    std::uint32_t acquire() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) return next_++;
        const std::uint32_t slot = free_.back();
        free_.pop_back();
        return slot;
    }
    void release(std::uint32_t slot) {
        std::lock_guard lock(mutex_);
        free_.push_back(slot);
    }

private:
    std::mutex mutex_;  // taken once when a thread first records and once when it exits; never on the frame path
    std::vector<std::uint32_t> free_;
    std::uint32_t next_ = 0;
};

/// A thread's number (see ThreadSlots), taken on its first call. A thread past its slot's release (a thread_local
/// destructor that records) gets kNoOwnSlot, which owns no shard.
inline constexpr std::uint32_t kNoOwnSlot = 0xffff'fffe;
namespace thread_slot_detail {
inline constexpr std::uint32_t kNotTaken = 0xffff'ffff;
inline thread_local std::uint32_t cached = kNotTaken;  // trivial, so reading it needs no initialisation guard
[[gnu::noinline]] inline std::uint32_t take() noexcept {
    struct Holder {
        std::uint32_t slot = ThreadSlots::instance().acquire();
        ~Holder() {
            ThreadSlots::instance().release(slot);
            cached = kNoOwnSlot;
        }
    };
    thread_local const Holder holder;
    return cached = holder.slot;
}
}  // namespace thread_slot_detail

inline std::uint32_t thread_slot() noexcept {
    const std::uint32_t slot = thread_slot_detail::cached;
    return slot != thread_slot_detail::kNotTaken ? slot : thread_slot_detail::take();
}

}  // namespace framepipe::detail
