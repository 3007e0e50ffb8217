#include "scheduler.hpp"

#include "event_count.hpp"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <opencv2/core/utility.hpp>
#include <pthread.h>

#include <mutex>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace framepipe::detail {

namespace flow = oneapi::tbb::flow;
using Token = int;

// OpenCV's TBB backend keeps a global task_arena that it initialises on the first cv::parallel_for_ that splits work.
// Left to chance, that first call happens on two stage workers at once and they race inside TBB (ThreadSanitizer sees
// task_arena::initialize against task_arena::max_concurrency). One split parallel_for_ here, before any worker runs a
// stage, initialises it on this thread; the task hand-offs that start the run then publish it to the workers.
void initialise_opencv_parallel_backend() {
    static std::once_flag once;
    std::call_once(once, [] {
        cv::parallel_for_(cv::Range(0, 2), [](const cv::Range&) {}, 2);
    });
}

struct Scheduler::Impl {
    explicit Impl(std::size_t threads)
        : arena(threads == 0 ? oneapi::tbb::info::default_concurrency() : static_cast<int>(threads)) {
        initialise_opencv_parallel_backend();
        arena.execute([this] { graph = std::make_unique<flow::graph>(); });
    }
    oneapi::tbb::task_arena arena;
    std::unique_ptr<flow::graph> graph;
};

namespace {

// Task bypass, as tbb::parallel_pipeline does it: when a compute worker makes work for an idle compute stage (it
// pushed a frame and that stage's runner posted an activation), the same thread runs that activation right after its
// own instead of spawning a task for another thread to pick up. A frame then travels down a chain of cheap stages on
// one warm core; stages that are already busy, and every other post, still go through the graph as tasks.
// A runner re-posting itself (end of a batch, or a recheck) always goes through the graph, so it yields the thread.
thread_local WorkerLoop* tls_continuation = nullptr;
thread_local WorkerLoop* tls_running = nullptr;  // the compute loop this thread is running, if any

void run_with_continuations(WorkerLoop& first) noexcept {
    for (WorkerLoop* loop = &first; loop != nullptr; loop = std::exchange(tls_continuation, nullptr)) {
        tls_running = loop;
        loop->run_worker();
    }
    tls_running = nullptr;
}

class ComputeActivation final : public Activation {
public:
    ComputeActivation(flow::graph& graph, WorkerLoop& loop, std::size_t concurrency)
        : loop_(loop), node_(graph, concurrency, [&loop](Token) {
              run_with_continuations(loop);
              return flow::continue_msg{};
          }) {}

    void post() noexcept override {
        if (tls_running != nullptr && tls_running != &loop_ && tls_continuation == nullptr) {
            tls_continuation = &loop_;
            return;
        }
        node_.try_put(Token{});
    }

private:
    WorkerLoop& loop_;
    flow::function_node<Token, flow::continue_msg, flow::queueing> node_;
};

// A blocking stage's activation: its own threads, woken directly by post(). Not through a graph task: when the
// workers are saturated (decoding many cameras) a task would wait for one of them, and a recorder would be woken late
// and let its edge overflow. The graph is held (reserve_wait) from the post until an I/O thread has run the
// activation, so wait_for_all() still waits for it.
class IoActivation final : public Activation {
public:
    IoActivation(flow::graph& graph, WorkerLoop& loop, std::size_t concurrency, const std::string& name)
        : graph_(graph) {
        for (std::size_t i = 0; i < concurrency; ++i) {
            threads_.emplace_back([this, &loop] { serve(loop); });
            pthread_setname_np(threads_.back().native_handle(), ("fp:" + name).substr(0, 15).c_str());
        }
    }
    ~IoActivation() override {
        stopping_.store(true);
        posted_.notify_all();
        for (auto& thread : threads_) thread.join();
    }
    void post() noexcept override {
        graph_.reserve_wait();
        pending_.fetch_add(1);
        posted_.notify_all();
    }

private:
    void serve(WorkerLoop& loop) {
        for (;;) {
            bool claimed = false;
            posted_.wait_until([&] {
                int n = pending_.load();
                while (n > 0)
                    if (pending_.compare_exchange_weak(n, n - 1)) return claimed = true;
                return stopping_.load();
            });
            if (!claimed) return;
            loop.run_worker();
            graph_.release_wait();
        }
    }

    flow::graph& graph_;
    std::atomic<int> pending_{0};
    std::atomic<bool> stopping_{false};
    EventCount posted_;
    std::vector<std::thread> threads_;
};

}  // namespace

Scheduler::Scheduler(std::size_t threads) : impl_(std::make_unique<Impl>(threads)) {}

Scheduler::~Scheduler() {
    wait_for_all();
    impl_->arena.execute([this] { impl_->graph.reset(); });
}

std::unique_ptr<Activation> Scheduler::compute_node(WorkerLoop& loop, std::size_t concurrency) {
    std::unique_ptr<Activation> activation;
    impl_->arena.execute([&] { activation = std::make_unique<ComputeActivation>(*impl_->graph, loop, concurrency); });
    return activation;
}

std::unique_ptr<Activation> Scheduler::io_node(WorkerLoop& loop, std::size_t concurrency, const std::string& name) {
    std::unique_ptr<Activation> activation;
    impl_->arena.execute(
        [&] { activation = std::make_unique<IoActivation>(*impl_->graph, loop, concurrency, name); });
    return activation;
}

void Scheduler::hold() { impl_->graph->reserve_wait(); }
void Scheduler::release() { impl_->graph->release_wait(); }

void Scheduler::wait_for_all() {
    impl_->arena.execute([this] { impl_->graph->wait_for_all(); });
}

std::size_t Scheduler::threads() const noexcept { return static_cast<std::size_t>(impl_->arena.max_concurrency()); }

}  // namespace framepipe::detail
