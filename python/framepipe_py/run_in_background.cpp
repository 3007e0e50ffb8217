#include "run_in_background.hpp"

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace framepipe::python {

BackgroundRun::BackgroundRun(Pipeline& pipeline) : pipeline_(pipeline) {
    thread_ = std::thread([this] {
        std::optional<RunReport> report;
        std::exception_ptr failure;
        try {
            report = pipeline_.run();
        } catch (...) {
            failure = std::current_exception();
        }
        const std::lock_guard lock(mutex_);
        report_ = std::move(report);
        failure_ = failure;
        ended_ = true;
        ended_cv_.notify_all();
    });
}

BackgroundRun::~BackgroundRun() {
    if (!thread_.joinable()) return;
    {
        const std::lock_guard lock(mutex_);
        if (!ended_) pipeline_.request_abort();
    }
    const py::gil_scoped_release release;  // Python stages finishing their last call need it
    thread_.join();
}

bool BackgroundRun::wait(std::chrono::milliseconds timeout) {
    bool ended = false;
    {
        const py::gil_scoped_release release;
        std::unique_lock lock(mutex_);
        ended = ended_cv_.wait_for(lock, timeout, [&] { return ended_; });
    }
    if (PyErr_CheckSignals() != 0) {
        if (!PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            pipeline_.request_abort();
            throw py::error_already_set();
        }
        PyErr_Clear();
        if (++interrupts_ == 1)
            pipeline_.request_stop();
        else
            pipeline_.request_abort();
    }
    if (ended && thread_.joinable()) {
        const py::gil_scoped_release release;
        thread_.join();
    }
    return ended;
}

void BackgroundRun::wait_until_ended() {
    while (!wait(std::chrono::milliseconds(100))) {
    }
}

RunReport BackgroundRun::result() {
    const std::lock_guard lock(mutex_);
    if (failure_) std::rethrow_exception(failure_);
    return *report_;
}

}  // namespace framepipe::python
