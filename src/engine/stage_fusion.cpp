#include "stage_fusion.hpp"

#include <vector>

namespace framepipe::detail {
namespace {

std::vector<FusionRule>& rules() {
    static std::vector<FusionRule> all;  // filled during static initialisation, read-only afterwards
    return all;
}

}  // namespace

bool declare_fusion(FusionRule rule) {
    rules().push_back(std::move(rule));
    return true;
}

std::optional<Fusion> fuse(std::span<std::unique_ptr<Stage>> run, bool first_decodes, bool ends_branch) {
    for (const FusionRule& rule : rules())
        if (std::optional<Fusion> fusion = rule(run, first_decodes, ends_branch); fusion && fusion->replaces >= 2)
            return fusion;
    return std::nullopt;
}

}  // namespace framepipe::detail
