// Edge throughput: items per second through one bounded queue, framepipe's edge against
// tbb::concurrent_bounded_queue and a std::mutex + std::condition_variable queue, with the same capacity, producers and
// consumers, in the same run. Producers block when the queue is full; consumers block when it is empty.
//
//   edge_throughput [ITEMS]       default 2,000,000 items per scenario; best of 3 runs each
#include "../common/measure.hpp"

#include "engine/bounded_queue.hpp"

#include <framepipe/clock.hpp>

#include <oneapi/tbb/concurrent_queue.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

using namespace framepipe;

namespace {

constexpr std::uint64_t kDone = ~0ull;  // sentinel: one per consumer

class MutexQueue {
public:
    explicit MutexQueue(std::size_t capacity) : capacity_(capacity) {}
    void push(std::uint64_t v) {
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [&] { return items_.size() < capacity_; });
        items_.push_back(v);
        not_empty_.notify_one();
    }
    std::uint64_t pop() {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [&] { return !items_.empty(); });
        const std::uint64_t v = items_.front();
        items_.pop_front();
        not_full_.notify_one();
        return v;
    }

private:
    std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable not_full_, not_empty_;
    std::deque<std::uint64_t> items_;
};

class TbbQueue {
public:
    explicit TbbQueue(std::size_t capacity) { queue_.set_capacity(static_cast<std::ptrdiff_t>(capacity)); }
    void push(std::uint64_t v) { queue_.push(v); }
    std::uint64_t pop() {
        std::uint64_t v = 0;
        queue_.pop(v);
        return v;
    }

private:
    oneapi::tbb::concurrent_bounded_queue<std::uint64_t> queue_;
};

class EdgeQueue {
public:
    EdgeQueue(std::size_t capacity, bool single_producer)
        : queue_({.capacity = capacity, .overflow = Overflow::block, .single_producer = single_producer}) {}
    void push(std::uint64_t v) { queue_.push_wait(std::move(v), SteadyClock::instance()); }
    std::uint64_t pop() {
        std::uint64_t v = 0;
        (void)queue_.pop_wait(v);
        return v;
    }

private:
    detail::BoundedQueue<std::uint64_t> queue_;
};

template <class Queue>
double run(Queue& queue, int producers, int consumers, std::uint64_t items) {
    std::atomic<std::uint64_t> checksum{0};
    const perf::Timing t = perf::measure([&] {
        std::vector<std::thread> threads;
        for (int c = 0; c < consumers; ++c)
            threads.emplace_back([&] {
                std::uint64_t sum = 0;
                for (std::uint64_t v; (v = queue.pop()) != kDone;) sum += v;
                checksum.fetch_add(sum);
            });
        std::vector<std::thread> producer_threads;
        for (int p = 0; p < producers; ++p)
            producer_threads.emplace_back([&, p] {
                for (std::uint64_t i = static_cast<std::uint64_t>(p); i < items; i += static_cast<std::uint64_t>(producers))
                    queue.push(i);
            });
        for (auto& t : producer_threads) t.join();
        for (int c = 0; c < consumers; ++c) queue.push(kDone);
        for (auto& t : threads) t.join();
    });
    if (checksum.load() != items * (items - 1) / 2) fmt::print(stderr, "checksum mismatch: items were lost\n");
    return static_cast<double>(items) / t.wall_s;
}

template <class Make>
double best_rate(Make make, int producers, int consumers, std::uint64_t items) {
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        auto queue = make();
        best = std::max(best, run(*queue, producers, consumers, items));
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t items = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
    fmt::print("Edge throughput: {} items per scenario, blocking push and pop, best of 3, {} hardware threads\n\n",
               items, std::thread::hardware_concurrency());
    perf::Table table({"producers x consumers", "capacity", "framepipe edge", "tbb bounded queue", "mutex+condvar",
                       "edge / tbb", "edge / mutex"});
    for (auto [p, c] : {std::pair{1, 1}, std::pair{4, 4}}) {
        for (std::size_t capacity : {std::size_t{4}, std::size_t{64}}) {
            const double edge = best_rate([&] { return std::make_unique<EdgeQueue>(capacity, p == 1); }, p, c, items);
            const double tbb = best_rate([&] { return std::make_unique<TbbQueue>(capacity); }, p, c, items);
            const double mutex = best_rate([&] { return std::make_unique<MutexQueue>(capacity); }, p, c, items);
            table.add({fmt::format("{} x {}", p, c), fmt::format("{}", capacity), fmt::format("{:.2f} M/s", edge / 1e6),
                       fmt::format("{:.2f} M/s", tbb / 1e6), fmt::format("{:.2f} M/s", mutex / 1e6),
                       fmt::format("{:.2f}x", edge / tbb), fmt::format("{:.2f}x", edge / mutex)});
        }
    }
    table.print();
    return 0;
}
