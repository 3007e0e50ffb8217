#include "run_control.hpp"

#include <spdlog/spdlog.h>

namespace framepipe::detail {

void RunControl::fail(RunError error) noexcept {
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        if (!error_) {
            error_ = std::move(error);
            first = true;
        }
    }
    // Said at once, before the stages close and report what they wrote: the cause comes first.
    if (first) {
        try {
            spdlog::error("{}; stopping the run", error_->describe());
        } catch (...) {
        }
    }
    abort();
}

void RunControl::abort() noexcept {
    if (aborting_.exchange(true)) return;
    abort_source_.request_stop();
    if (abort_action_) abort_action_();
    std::lock_guard lock(mutex_);
    changed_.notify_all();
}

std::optional<RunError> RunControl::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

void RunControl::chain_finished() noexcept {
    std::lock_guard lock(mutex_);
    if (chains_left_ > 0) --chains_left_;
    changed_.notify_all();
}

bool RunControl::wait_finished(Duration timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return chains_left_ == 0; });
}

}  // namespace framepipe::detail
