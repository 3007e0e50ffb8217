#pragma once
// Scheduler: decides which thread runs which stage worker when; the pipeline's graph is its chains of stages joined by
// bounded edges (BoundedQueue), not this. Built on oneTBB: it owns one tbb::flow::graph (in its own task arena), used
// only as a pool of nodes that run stage workers, none connected to another. Nothing else in framepipe includes TBB.
//
// A stage runner asks for an Activation: post() makes the node run WorkerLoop::run_worker() once. The runner keeps the
// number of outstanding activations within the node's concurrency, so no node ever buffers more than that.
//   compute_node: a function_node; run_worker() runs on a TBB worker thread.
//   io_node:      dedicated threads of its own, woken directly by post(), for stages that block on disk or network
//                 (not through a graph task, which would wait for a saturated worker); the graph's wait_for_all() still
//                 waits for them (reserve_wait from the post until the activation has run).

#include <cstddef>
#include <memory>
#include <string>

namespace framepipe::detail {

class WorkerLoop {
public:
    /// Does a bounded amount of work and returns. Must not throw.
    virtual void run_worker() noexcept = 0;

protected:
    ~WorkerLoop() = default;
};

class Activation {
public:
    virtual ~Activation() = default;
    /// Schedules one run_worker() call. Thread-safe, non-blocking.
    virtual void post() noexcept = 0;
};

class Scheduler {
public:
    /// `threads` = 0: one worker per CPU.
    explicit Scheduler(std::size_t threads);
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    /// The returned activation refers to the graph and must be destroyed before it.
    std::unique_ptr<Activation> compute_node(WorkerLoop& loop, std::size_t concurrency);
    std::unique_ptr<Activation> io_node(WorkerLoop& loop, std::size_t concurrency, const std::string& name);

    /// Keeps wait_for_all() from returning, even while no node has work, until release(). Thread-safe.
    void hold();
    void release();
    /// Works for the graph (this thread joins the arena's workers) until no node is running or scheduled and no
    /// hold() is outstanding. Called by the thread that drives the run.
    void wait_for_all();
    [[nodiscard]] std::size_t threads() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe::detail
