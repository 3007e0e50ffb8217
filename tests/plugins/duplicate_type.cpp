// For the tests: a plugin declaring a stage type framepipe already has (blur) next to a new one; load_plugin must refuse
// the whole plugin, so that neither type changes.
#include <framepipe/registry.hpp>

#include <memory>

FRAMEPIPE_PLUGIN()

namespace {

class Nothing final : public framepipe::Stage {
public:
    explicit Nothing(const std::string& name) : Stage({.name = name, .parallel = true}) {}
    framepipe::Outcome process(framepipe::Frame&) override { return framepipe::Outcome::pass; }
};

const auto make = [](const std::string& name, const framepipe::OptionValues&) { return std::make_unique<Nothing>(name); };
const bool fresh = framepipe::declare_stage(
    {.type = "duplicate_plugin_fresh", .summary = "", .example = "- { type: duplicate_plugin_fresh }", .make = make});
const bool blur = framepipe::declare_stage({.type = "blur", .summary = "", .example = "- { type: blur }", .make = make});

}  // namespace
