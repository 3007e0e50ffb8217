#pragma once
// BoundedQueue<T>: the edge between two stages. A moodycamel::ConcurrentQueue holds the items; the bound, the overflow
// policy, closing and the counters are enforced here, because moodycamel's capacity is only a per-producer hint.
//
// Bound: `occupancy_` counts queued items plus slots reserved by producers and never exceeds the capacity; an item is
// enqueued only into a slot it owns. `ready_` counts enqueued items not yet claimed by a consumer; a consumer claims
// one by decrementing it, then dequeues (retrying moodycamel's try_dequeue, which may miss an item that is there).
//
// Order: FIFO holds per producer. An edge with one producer at a time (`single_producer`, the case after a serial or
// order-restoring stage) enqueues through a single moodycamel producer token and is FIFO for all consumers; the
// producing thread may change over time as long as two threads never push at once.
//
// Thread-safety: every member may be called concurrently from any threads, except that a single_producer queue must
// not see two concurrent pushes. Allocation: none per item once moodycamel's blocks exist (pre-sized at construction).
// Waiting: push_wait()/pop_wait() sleep on an EventCount; everything else is non-blocking.

#include "event_count.hpp"
#include "frame_fate.hpp"
#include "live_counters.hpp"
#include "wakeable.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/edge.hpp>

#include <concurrentqueue/concurrentqueue.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <thread>
#include <utility>

namespace framepipe::detail {

/// What a queue has seen (EdgeCounts). pushed == delivered + dropped() + queued.
using QueueCounters = EdgeCounts;

/// Called with each item a queue drops, just before it lets go of it, with why and the queue's Config::consumer: a
/// frame notes its fate there (frame_pool.hpp overloads it for FrameRef). Nothing for other items.
template <class T>
void note_edge_drop(const T&, FrameFate, std::size_t) noexcept {}

template <class T>
class BoundedQueue {
public:
    struct Config {
        std::size_t capacity = 4;
        Overflow overflow = Overflow::block;
        bool single_producer = true;
        std::size_t consumer = 0;  // the consuming stage's position in its chain, passed to note_edge_drop()
    };

    enum class PushResult { queued, replaced_oldest, dropped_newest, replaced, full, closed };

    explicit BoundedQueue(Config config)
        : config_(sanitized(config)),
          queue_(config_.capacity + 2 * moodycamel::ConcurrentQueueDefaultTraits::BLOCK_SIZE, 1, 8),
          token_(queue_) {}

    BoundedQueue(const BoundedQueue&) = delete;
    BoundedQueue& operator=(const BoundedQueue&) = delete;

    /// Hooks called after an item becomes available (consumer) and, under `block`, after a slot frees (producer).
    void set_consumer(Wakeable* consumer) noexcept { consumer_ = consumer; }
    void set_producer(Wakeable* producer) noexcept { producer_ = producer; }

    [[nodiscard]] const Config& config() const noexcept { return config_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return config_.capacity; }
    [[nodiscard]] Overflow overflow() const noexcept { return config_.overflow; }
    [[nodiscard]] bool closed() const noexcept { return closed_.load(); }
    /// Items queued and not yet claimed by a consumer.
    [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(std::max<std::int64_t>(ready_.load(), 0)); }
    [[nodiscard]] bool has_free_slot() const noexcept {
        return occupancy_.load() < static_cast<std::int64_t>(config_.capacity);
    }

    // ---- producer side -------------------------------------------------------------------------------------------

    /// Claims a slot for a later push_reserved(). Only for `block` queues (a reservation cannot be evicted).
    /// False when full. Non-blocking. On a closed queue reservations still succeed (the push will be discarded), so a
    /// producer whose consumer has gone away can keep draining its own input.
    [[nodiscard]] bool try_reserve() noexcept { return try_reserve_any(); }

    /// Gives back a slot from try_reserve() without pushing.
    void cancel_reservation() noexcept { release_slot(); }

    /// Pushes into a slot reserved with try_reserve(). Never fails; on a closed queue the item is discarded (counted).
    void push_reserved(T&& item) noexcept {
        counts_.add<&EdgeCounts::pushed>();
        if (closed_.load()) {
            counts_.add<&EdgeCounts::discarded>();
            note_edge_drop(item, FrameFate::edge_discarded, config_.consumer);
            [[maybe_unused]] T discard = std::move(item);
            release_slot();
            return;
        }
        commit(std::move(item));
    }

    /// Non-blocking push that applies the overflow policy. Under `block` a full queue returns `full` and leaves `item`
    /// untouched; in every other case the item is consumed (queued, or dropped and counted).
    PushResult push(T&& item) noexcept {
        for (;;) {
            if (closed_.load()) {
                counts_.add<&EdgeCounts::pushed, &EdgeCounts::discarded>();
                note_edge_drop(item, FrameFate::edge_discarded, config_.consumer);
                [[maybe_unused]] T discard = std::move(item);
                return PushResult::closed;
            }
            if (try_reserve_any()) {
                counts_.add<&EdgeCounts::pushed>();
                commit(std::move(item));
                return PushResult::queued;
            }
            switch (config_.overflow) {
                case Overflow::block:
                    return PushResult::full;
                case Overflow::drop_newest: {
                    counts_.add<&EdgeCounts::pushed, &EdgeCounts::dropped_newest>();
                    note_edge_drop(item, FrameFate::dropped_newest, config_.consumer);
                    [[maybe_unused]] T discard = std::move(item);
                    return PushResult::dropped_newest;
                }
                case Overflow::latest: {  // capacity 1 (see sanitized()): the victim is the one waiting frame
                    T victim;
                    if (claim(victim)) {
                        counts_.add<&EdgeCounts::replaced>();
                        note_edge_drop(victim, FrameFate::replaced, config_.consumer);
                        victim = T{};
                        counts_.add<&EdgeCounts::pushed>();
                        commit(std::move(item));
                        return PushResult::replaced;
                    }
                    std::this_thread::yield();  // as below: a consumer is taking the waiting frame
                    break;
                }
                case Overflow::drop_oldest: {
                    T victim;
                    if (claim(victim)) {  // the victim's slot becomes ours: occupancy is unchanged
                        counts_.add<&EdgeCounts::dropped_oldest>();
                        note_edge_drop(victim, FrameFate::dropped_oldest, config_.consumer);
                        victim = T{};
                        counts_.add<&EdgeCounts::pushed>();
                        commit(std::move(item));
                        return PushResult::replaced_oldest;
                    }
                    // Full, yet nothing to evict: a consumer is between claiming an item and freeing its slot.
                    std::this_thread::yield();
                    break;
                }
            }
        }
    }

    /// Like push(), but under `block` waits for space. Returns `closed` (item discarded) if the queue is closed
    /// or `stop` is requested while waiting. The wait is added to the queue's blocked time, measured with `clock`.
    PushResult push_wait(T&& item, const Clock& clock, std::stop_token stop = {}) {
        PushResult result = push(std::move(item));
        if (result != PushResult::full) return result;
        const TimePoint started = clock.now();
        {
            std::stop_callback wake_on_stop(stop, [this] { space_.notify_all(); });
            // Sleep until the queue has drained to half (not merely one slot): a blocked producer then refills
            // several slots per wake-up instead of paying a futex round trip per item.
            space_.wait_until([&] {
                if (occupancy_.load() > wake_watermark() && !closed_.load() && !stop.stop_requested()) return false;
                result = push(std::move(item));  // leaves `item` untouched while full
                return result != PushResult::full || stop.stop_requested();
            });
        }
        add_blocked_time(clock.now() - started);
        if (result == PushResult::full) {  // stopped while waiting
            counts_.add<&EdgeCounts::pushed, &EdgeCounts::discarded>();
            note_edge_drop(item, FrameFate::edge_discarded, config_.consumer);
            [[maybe_unused]] T discard = std::move(item);
            return PushResult::closed;
        }
        return result;
    }

    /// Like try_reserve(), but waits for a slot as push_wait() waits for room. False when `stop` is requested first.
    [[nodiscard]] bool reserve_wait(std::stop_token stop) noexcept {
        if (try_reserve_any()) return true;
        bool reserved = false;
        std::stop_callback wake_on_stop(stop, [this] { space_.notify_all(); });
        space_.wait_until([&] {
            if (occupancy_.load() > wake_watermark() && !closed_.load() && !stop.stop_requested()) return false;
            reserved = try_reserve_any();
            return reserved || stop.stop_requested();
        });
        return reserved;
    }

    /// Counts an item the producer handed straight to an idle consumer instead of queueing it (as pushed and
    /// delivered), and frees the slot it reserved for it (`reserved`). Called by the producer, so the producer is not
    /// woken; a reader sleeping in push_wait() for room is, as on any freed slot.
    void count_carried(bool reserved) noexcept {
        counts_.add<&EdgeCounts::pushed, &EdgeCounts::delivered>();
        if (reserved && occupancy_.fetch_sub(1) - 1 == wake_watermark()) space_.notify_all();
    }

    void add_blocked_time(Duration waited) noexcept {
        counts_.add<&EdgeCounts::blocked_time>(waited);
    }

    // ---- consumer side -------------------------------------------------------------------------------------------

    /// Takes the oldest item, skipping (and counting) items for which `expired(item)` is true. False when empty.
    template <class Expired>
    [[nodiscard]] bool try_pop(T& out, Expired&& expired) noexcept {
        for (;;) {
            if (!claim(out)) return false;
            if (expired(static_cast<const T&>(out))) {
                counts_.add<&EdgeCounts::expired>();
                note_edge_drop(out, FrameFate::expired, config_.consumer);
                out = T{};
                release_slot();
                continue;
            }
            counts_.add<&EdgeCounts::delivered>();
            release_slot();
            return true;
        }
    }
    [[nodiscard]] bool try_pop(T& out) noexcept {
        return try_pop(out, [](const T&) { return false; });
    }

    /// Waits for an item. False once the queue is closed and empty, or when `stop` is requested.
    [[nodiscard]] bool pop_wait(T& out, std::stop_token stop = {}) {
        bool got = false;
        std::stop_callback wake_on_stop(stop, [this] { items_.notify_all(); });
        items_.wait_until([&] {
            got = try_pop(out);
            return got || (closed_.load() && ready_.load() <= 0) || stop.stop_requested();
        });
        return got;
    }

    // ---- lifecycle -----------------------------------------------------------------------------------------------

    /// No more pushes: later pushes are discarded (counted). Consumers still drain what is queued. Wakes every waiter.
    void close() noexcept {
        closed_.store(true);
        space_.notify_all();
        items_.notify_all();
        if (consumer_ != nullptr) consumer_->wake();
        if (producer_ != nullptr) producer_->wake();
    }

    /// Closes the queue and throws away everything in it (counted as discarded). For aborting a run.
    void close_and_discard() noexcept {
        close();
        discard_queued();
    }

    [[nodiscard]] QueueCounters counters() const noexcept {
        QueueCounters c = counts_.snapshot();
        c.queued = size();
        return c;
    }

private:
    static Config sanitized(Config config) noexcept {
        config.capacity = config.overflow == Overflow::latest ? 1 : std::max<std::size_t>(config.capacity, 1);
        return config;
    }

    // A slot for push(): unlike try_reserve(), allowed under every policy.
    bool try_reserve_any() noexcept {
        std::int64_t n = occupancy_.load();
        do {
            if (n >= static_cast<std::int64_t>(config_.capacity)) return false;
        } while (!occupancy_.compare_exchange_weak(n, n + 1));
        return true;
    }

    // Enqueues into a slot the caller owns.
    void commit(T&& item) noexcept {
        if (config_.single_producer)
            queue_.enqueue(token_, std::move(item));
        else
            queue_.enqueue(std::move(item));
        const std::int64_t depth = ready_.fetch_add(1) + 1;
        counts_.raise_to<&EdgeCounts::peak_depth>(static_cast<std::uint64_t>(std::max<std::int64_t>(depth, 0)));
        if (closed_.load()) {  // raced with close_and_discard(): make sure nothing stays behind
            discard_queued();
            return;
        }
        items_.notify_all();
        if (consumer_ != nullptr) consumer_->wake();
    }

    // Claims and dequeues one item; its slot stays occupied until release_slot().
    bool claim(T& out) noexcept {
        std::int64_t n = ready_.load();
        do {
            if (n <= 0) return false;
        } while (!ready_.compare_exchange_weak(n, n - 1));
        while (!queue_.try_dequeue(out)) {
            // The item is there (it was counted after enqueue returned); moodycamel's heuristic scan can miss it.
        }
        return true;
    }

    // Occupancy at or below which a producer sleeping in push_wait() is woken.
    [[nodiscard]] std::int64_t wake_watermark() const noexcept {
        return static_cast<std::int64_t>(config_.capacity / 2);
    }

    void release_slot() noexcept {
        if (occupancy_.fetch_sub(1) - 1 == wake_watermark()) space_.notify_all();
        if (producer_ != nullptr && config_.overflow == Overflow::block) producer_->wake();
    }

    void discard_queued() noexcept {
        T item;
        while (claim(item)) {
            counts_.add<&EdgeCounts::discarded>();
            note_edge_drop(item, FrameFate::edge_discarded, config_.consumer);
            item = T{};
            release_slot();
        }
    }

    const Config config_;
    moodycamel::ConcurrentQueue<T> queue_;
    moodycamel::ProducerToken token_;
    std::atomic<std::int64_t> occupancy_{0};
    std::atomic<std::int64_t> ready_{0};
    std::atomic<bool> closed_{false};
    EventCount space_;
    EventCount items_;
    Wakeable* consumer_ = nullptr;
    Wakeable* producer_ = nullptr;

    LiveCounters<EdgeCounts> counts_;
};

}  // namespace framepipe::detail
