#pragma once
// EventCount: lets a thread sleep until a condition, published by another thread through atomics, becomes true,
// without a mutex on the notifying side. Notifiers pay one atomic load when nobody waits.
//
// Protocol (the condition must be read and written with seq_cst atomics):
//     waiter:   ec.wait_until([&] { return cond(); });
//     notifier: make cond() true; ec.notify_all();
// Thread-safe. Never allocates. Waits are futex-based (C++20 atomic wait).

#include "one_processor.hpp"

#include <atomic>
#include <cstdint>
#include <thread>

namespace framepipe::detail {

class EventCount {
public:
    void notify_all() noexcept {
        if (waiters_.load() != 0) {
            epoch_.fetch_add(1);
            epoch_.notify_all();
        }
    }

    /// Returns once `ready()` is true. `ready` is called repeatedly; it must be cheap, and may have an effect only
    /// when it returns true (e.g. a successful try_pop).
    template <class Ready>
    void wait_until(Ready&& ready) {
        // Spin briefly first: when the other side is running on another core the condition usually turns true within
        // microseconds, and a futex sleep plus wake costs several and a context switch. Bounded (about 11 us on the
        // 2-core EPYC this was tuned on), so a waiter whose condition will not come soon (a source behind a stalled
        // sink) sleeps instead of burning a core. perf/edge_throughput and perf/passthrough show the effect: with no
        // spin, 1x1 edge throughput at capacity 4 drops from ~6.7 to ~1.0 M items/s and pass-through from ~1.06 M to
        // ~0.7 M frames/s. With one processor to run on (a container pinned to one CPU, a small board) the other side
        // cannot run while this thread spins, so it does not spin: pass-through under `taskset -c 0` ran at 77 k
        // frames/s with the spin (a producer waited out a whole spin per frame) and at 165-172 k without.
        // Every 64th turn yields the processor: when more threads are runnable than there are processors (a source's
        // reader and two workers on two), a spinning waiter otherwise takes its share of a processor from the thread
        // it waits for. perf/passthrough with stages that read 4 KiB of the frame: the reader spent 30% of the
        // processors' time spinning for room in its edge.
        const int spins = one_processor() ? 0 : kSpins;
        for (int spin = 0; spin < spins; ++spin) {
            if (ready()) return;
            if (spin % kSpinsPerYield == kSpinsPerYield - 1)
                std::this_thread::yield();
            else
                pause();
        }
        while (!ready()) {
            waiters_.fetch_add(1);
            const std::uint32_t key = epoch_.load();
            if (ready()) {
                waiters_.fetch_sub(1);
                return;
            }
            epoch_.wait(key);
            waiters_.fetch_sub(1);
        }
    }

private:
    static constexpr int kSpins = 512;         // pause instructions, and the yields among them
    static constexpr int kSpinsPerYield = 64;  // every 64th is a yield instead
    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    std::atomic<std::uint32_t> epoch_{0};
    std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace framepipe::detail
