#include <framepipe/stage.hpp>

namespace framepipe {

void StageHealth::output_stopped(std::string why) {
    if (stopped_.exchange(true)) return;
    const std::lock_guard lock(mutex_);
    stopped_reason_ = std::move(why);
}

std::string StageHealth::stopped_reason() const {
    if (!stopped_.load()) return {};
    const std::lock_guard lock(mutex_);
    return stopped_reason_;
}

}  // namespace framepipe
