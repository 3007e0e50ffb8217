#pragma once
// EventCount: lets a thread sleep until a condition, published by another thread through atomics, becomes true,
// without a mutex on the notifying side. Notifiers pay one atomic load when nobody waits.
//
// Protocol (the condition must be read and written with seq_cst atomics):
//     waiter:   ec.wait_until([&] { return cond(); });
//     notifier: make cond() true; ec.notify_all();
// Thread-safe. Never allocates. Waits are futex-based (C++20 atomic wait).

#include <atomic>
#include <cstdint>

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
    std::atomic<std::uint32_t> epoch_{0};
    std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace framepipe::detail
