#pragma once
// ReorderWindow: puts the output of a parallel stage back into input order, without locks.
//
// The stage's input edge is FIFO with a single producer, so frames leave it in key order (the frame's sequence
// number). Workers take frames concurrently and finish out of order; a finished frame may be released downstream
// once no frame with a smaller key is still being processed. Gaps (frames dropped before the stage) need no
// bookkeeping: only frames that some worker took are ever waited for.
//
// The only race is between taking a frame from the edge and registering it here; workers bracket that step with
// begin_pop()/end_pop(). A release decision scans the entries, and is valid only if no bracket was open when the scan
// began and none began during it (checked like a seqlock): otherwise a frame taken just before one the scan saw could
// still be unregistered. The worker whose bracket got in the way calls release() itself when it closes it.
//
// Worker protocol:
//     e = claim()                -> -1 when the window is full: do not take a frame now
//     begin_pop(); pop a frame; assign(e, key) or unclaim(e); end_pop(); release(emit)
//     ... process ...
//     complete(e, result); release(emit)
// release() calls emit(T&&) for finished entries in key order, an empty T for a frame that produced nothing, from one
// thread at a time (so emit may push through a single-producer queue). Thread-safe; never allocates after construction.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>

namespace framepipe::detail {

template <class T>
class ReorderWindow {
public:
    explicit ReorderWindow(std::size_t entries) : size_(entries), entries_(std::make_unique<Entry[]>(entries)) {}

    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    [[nodiscard]] bool has_free_entry() const noexcept {
        for (std::size_t i = 0; i < size_; ++i)
            if (entries_[i].state.load() == kFree) return true;
        return false;
    }

    /// An entry for a frame about to be taken, or -1 when all are in use.
    [[nodiscard]] int claim() noexcept {
        for (std::size_t i = 0; i < size_; ++i) {
            int expected = kFree;
            if (entries_[i].state.compare_exchange_strong(expected, kClaimed)) return static_cast<int>(i);
        }
        return -1;
    }

    void begin_pop() noexcept { takes_.fetch_add(kTakeBegun + 1); }
    void end_pop() noexcept { takes_.fetch_sub(1); }

    void assign(int entry, std::uint64_t key) noexcept {
        Entry& e = entries_[static_cast<std::size_t>(entry)];
        e.key.store(key, std::memory_order_relaxed);
        e.state.store(kActive);
    }

    void unclaim(int entry) noexcept { entries_[static_cast<std::size_t>(entry)].state.store(kFree); }

    void complete(int entry, T result) noexcept {
        Entry& e = entries_[static_cast<std::size_t>(entry)];
        e.value = std::move(result);
        e.state.store(kDone);
    }

    template <class Emit>
    void release(Emit&& emit) noexcept {
        for (;;) {
            if (releasing_.exchange(true)) return;  // the releasing thread re-checks after it lets go
            for (int next = releasable(); next >= 0; next = releasable()) {
                Entry& e = entries_[static_cast<std::size_t>(next)];
                T value = std::move(e.value);
                e.value = T{};
                e.state.store(kFree);
                emit(std::move(value));
            }
            releasing_.store(false);
            if (releasable() < 0) return;
        }
    }

    /// Entries not free (claimed, being processed or waiting for release).
    [[nodiscard]] std::size_t occupied() const noexcept {
        std::size_t n = 0;
        for (std::size_t i = 0; i < size_; ++i) n += entries_[i].state.load() != kFree;
        return n;
    }

private:
    static constexpr int kFree = 0;     // available to claim()
    static constexpr int kClaimed = 1;  // a worker is about to take a frame; its key is not known yet
    static constexpr int kActive = 2;   // key known, frame being processed
    static constexpr int kDone = 3;     // processed, waiting for release

    struct Entry {
        std::atomic<int> state{kFree};
        std::atomic<std::uint64_t> key{0};  // stored before state becomes kActive (the state store publishes it)
        T value{};              // written before state becomes kDone; moved out by the releaser
    };

    // The entry holding the smallest registered key if it is done and no take was in progress during the scan; else -1.
    int releasable() const noexcept {
        const std::uint64_t before = takes_.load();
        if ((before & kOpenTakes) != 0) return -1;
        int best = -1;
        std::uint64_t best_key = std::numeric_limits<std::uint64_t>::max();
        int best_state = kFree;
        for (std::size_t i = 0; i < size_; ++i) {
            const int state = entries_[i].state.load();
            if (state != kActive && state != kDone) continue;
            const std::uint64_t key = entries_[i].key.load(std::memory_order_relaxed);
            if (key < best_key) {
                best_key = key;
                best = static_cast<int>(i);
                best_state = state;
            }
        }
        if (takes_.load() != before) return -1;  // a take began during the scan
        return best_state == kDone ? best : -1;
    }

    const std::size_t size_;
    std::unique_ptr<Entry[]> entries_;
    // Low 32 bits: takes in progress (open brackets). High 32 bits: takes begun, as a version for releasable().
    static constexpr std::uint64_t kTakeBegun = std::uint64_t{1} << 32;
    static constexpr std::uint64_t kOpenTakes = kTakeBegun - 1;
    std::atomic<std::uint64_t> takes_{0};
    std::atomic<bool> releasing_{false};
};

}  // namespace framepipe::detail
