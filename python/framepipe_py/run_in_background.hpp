#pragma once
// Pipeline::run() on a thread of its own, so the Python thread that waits for it can let go of the GIL (Python stages
// need it) and still answer Ctrl-C as the command does: the first KeyboardInterrupt stops reading and drains the
// frames in flight (every output finalised), the second discards them. The interrupt is raised again once the run
// has ended.
//
// Thread-safety: one Python thread owns a BackgroundRun; wait() and the destructor take and release the GIL.

#include <framepipe/pipeline.hpp>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace framepipe::python {

class BackgroundRun {
public:
    /// Starts pipeline.run(); `pipeline` must outlive this object.
    explicit BackgroundRun(Pipeline& pipeline);
    /// Aborts a run still going and waits for it (without the GIL).
    ~BackgroundRun();
    BackgroundRun(const BackgroundRun&) = delete;
    BackgroundRun& operator=(const BackgroundRun&) = delete;

    /// Called with the GIL. Waits up to `timeout` without the GIL, then checks for signals (a KeyboardInterrupt is
    /// taken, counted and turned into a stop or an abort; other signal handlers' exceptions propagate). True when
    /// the run has ended.
    bool wait(std::chrono::milliseconds timeout);
    /// Waits (as wait()) until the run ends.
    void wait_until_ended();
    /// After the run ended: its report, or what run() threw, rethrown.
    RunReport result();
    /// KeyboardInterrupts taken while waiting.
    [[nodiscard]] int interrupts() const { return interrupts_; }

    void request_stop() noexcept { pipeline_.request_stop(); }

private:
    Pipeline& pipeline_;
    std::mutex mutex_;
    std::condition_variable ended_cv_;
    bool ended_ = false;
    std::optional<RunReport> report_;
    std::exception_ptr failure_;
    int interrupts_ = 0;
    std::thread thread_;
};

}  // namespace framepipe::python
