#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

namespace framepipe {

std::vector<std::unique_ptr<Stage>> Source::decode_stages() { return {}; }

}  // namespace framepipe
