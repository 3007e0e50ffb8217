#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

#include <utility>

namespace framepipe {

bool sleep_until(std::chrono::steady_clock::time_point due, std::stop_token stop) {
    return SteadyClock::instance().sleep_until(std::chrono::time_point_cast<Duration>(due), std::move(stop));
}

const Clock& Source::clock() const noexcept { return clock_ != nullptr ? *clock_ : SteadyClock::instance(); }

std::vector<std::unique_ptr<Stage>> Source::decode_stages() { return {}; }

}  // namespace framepipe
