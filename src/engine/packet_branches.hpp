#pragma once
// Which stages of a chain take the source's packets rather than its pictures, from each stage's `from` (Chain::add):
// `packets`, or the stage above or a named stage that does. One rule for the engine (a chain whose stages all take
// packets is not decoded) and for pipeline files (a camera's main stream gets those stages, its sub stream the rest).

#include <framepipe/pipeline.hpp>

#include <string>
#include <vector>

namespace framepipe::detail {

struct StageOrigin {
    const std::string& name;
    const std::string& from;  // as declared: empty (the stage above), a stage's name, kFromSource or kFromPackets
};

/// Per stage, in order: whether its frames come from the packets. The first stage, and a `from` naming no stage above,
/// take pictures.
inline std::vector<bool> takes_packets(const std::vector<StageOrigin>& stages) {
    std::vector<bool> packets(stages.size(), false);
    for (std::size_t s = 0; s < stages.size(); ++s) {
        const std::string& from = stages[s].from;
        if (from == kFromPackets) {
            packets[s] = true;
        } else if (from.empty()) {
            packets[s] = s > 0 && packets[s - 1];
        } else if (from != kFromSource) {
            for (std::size_t p = 0; p < s; ++p)
                if (stages[p].name == from) packets[s] = packets[p];
        }
    }
    return packets;
}

}  // namespace framepipe::detail
