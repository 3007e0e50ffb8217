#pragma once
// SlotPool<T>: N objects that concurrent callers borrow one at a time, for per-worker state a parallel stage cannot
// share (a codec context, a swscale context). claim() never blocks: a parallel stage runs at most N process() calls at
// once, so with N >= its concurrency a free slot always exists. Thread-safe; no allocation after construction.

#include <array>
#include <atomic>
#include <cstddef>
#include <stdexcept>

namespace framepipe::media {

template <class T, std::size_t N = 16>
class SlotPool {
public:
    class Lease {
    public:
        Lease(SlotPool& pool, std::size_t index) : pool_(pool), index_(index) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { pool_.busy_[index_].store(false, std::memory_order_release); }
        T& operator*() const noexcept { return pool_.slots_[index_]; }
        T* operator->() const noexcept { return &pool_.slots_[index_]; }

    private:
        SlotPool& pool_;
        std::size_t index_;
    };

    Lease claim() {
        for (std::size_t i = 0; i < N; ++i) {
            bool expected = false;
            if (busy_[i].compare_exchange_strong(expected, true, std::memory_order_acquire)) return Lease(*this, i);
        }
        throw std::logic_error("SlotPool: more concurrent users than slots");
    }

    /// Every slot, for setup and teardown while nobody holds a lease.
    std::array<T, N>& all() noexcept { return slots_; }

private:
    std::array<T, N> slots_{};
    std::array<std::atomic<bool>, N> busy_{};
};

}  // namespace framepipe::media
