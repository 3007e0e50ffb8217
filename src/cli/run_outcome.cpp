#include "run_outcome.hpp"

#include <fmt/format.h>

namespace framepipe::cli {

std::string why_nothing_delivered(const SourceReport& s) {
    if (s.captured == 0)
        return s.ended_early.empty() ? "the input held no frame" : "no frame could be read: " + s.ended_early;
    std::uint64_t most = 0;
    std::string cause;
    const auto consider = [&](std::uint64_t count, std::string what) {
        if (count > most) most = count, cause = std::move(what);
    };
    for (const StageReport& st : s.stages) {
        consider(st.rejected, fmt::format("rejected as bad by '{}' (the warnings above name them)", st.name));
        consider(st.filtered, fmt::format("filtered out by '{}'", st.name));
        consider(st.failed + st.discarded, fmt::format("lost in '{}' after an error", st.name));
        consider(st.ended, fmt::format("'{}' asked for the end of the input", st.name));
    }
    for (const EdgeReport& e : s.edges) consider(e.dropped(), fmt::format("dropped on the edge into '{}'", e.to));
    return fmt::format("{} of {} frame(s) {}", most, s.captured, cause);
}

}  // namespace framepipe::cli
