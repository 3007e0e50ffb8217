#include "registry/suggest.hpp"

#include <framepipe/registry.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace framepipe::detail {
namespace {

// Levenshtein distance.
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string did_you_mean(std::string_view given, const std::vector<std::string>& known) {
    const std::string* best = nullptr;
    std::size_t best_distance = 3;
    for (const std::string& k : known) {
        const std::size_t d = distance(given, k);
        if (d < best_distance) best = &k, best_distance = d;
    }
    return best == nullptr ? "" : fmt::format(" (did you mean '{}'?)", *best);
}

std::string unknown_stage_type(std::string_view type) {
    std::vector<std::string> types;
    for (const StageSpec& s : stage_catalog()) types.push_back(s.type);
    return fmt::format("unknown stage type '{}'{}; known types: {} (see 'framepipe stages')", type,
                       did_you_mean(type, types), fmt::join(types, ", "));
}

}  // namespace framepipe::detail
