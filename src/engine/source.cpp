#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

namespace framepipe {

const Clock& Source::clock() const noexcept { return clock_ != nullptr ? *clock_ : SteadyClock::instance(); }

std::vector<std::unique_ptr<Stage>> Source::decode_stages() { return {}; }

}  // namespace framepipe
