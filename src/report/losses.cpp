// Where and why frames were lost, filtered or rejected, in words: what the summary, the verdict and the page say.
#include <framepipe/report.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace framepipe {
namespace {

std::string edge_why(const EdgeReport& e, std::string_view cause) {
    if (cause == "oldest") return "the edge was full: the oldest frame was evicted (drop_oldest)";
    if (cause == "newest") return "the edge was full: the new frame was refused (drop_newest)";
    if (cause == "replaced") return "replaced by a newer frame while waiting (latest)";
    if (cause == "expired")
        return e.max_age ? fmt::format("older than max_age ({:.0f} ms) when the stage reached it", in_ms(*e.max_age))
                         : std::string("older than max_age when the stage reached it");
    if (cause == "discarded") return "discarded by the stop or an abort";
    return std::string(cause);
}

std::string stage_why(std::string_view cause) {
    if (cause == "filtered") return "the stage chose not to pass it on";
    if (cause == "ended") return "the stage asked for the end of the input";
    if (cause == "rejected") return "bad or undecodable data";
    if (cause == "failed") return "the stage failed on it";
    if (cause == "discarded") return "held by the stage and discarded by an abort";
    return std::string(cause);
}

}  // namespace

std::vector<FrameLoss> losses_of(const SourceReport& s) {
    std::vector<FrameLoss> out;
    const auto add = [&out](CounterRole kind, std::string where, std::string_view cause, std::string why,
                            std::uint64_t frames) {
        if (frames > 0) out.push_back({kind, std::move(where), std::string(cause), std::move(why), frames});
    };
    for (const auto& field : SourceCounts::counters())
        if (field.role == CounterRole::drop)
            add(field.role, "capture", field.key, "no free frame when the source delivered it", s.*field.member);
    for (std::size_t i = 0; i < s.stages.size(); ++i) {
        if (i < s.edges.size()) {
            const EdgeReport& e = s.edges[i];
            for (const auto& field : EdgeCounts::counters())
                if (field.role == CounterRole::drop)
                    add(field.role, fmt::format("{} -> {}", e.from, e.to), field.key, edge_why(e, field.key),
                        e.*field.member);
        }
        const StageReport& st = s.stages[i];
        for (const auto& field : StageCounts::counters())
            if (field.role == CounterRole::drop || field.role == CounterRole::filter ||
                field.role == CounterRole::reject)
                add(field.role, fmt::format("'{}'", st.name), field.key, stage_why(field.key), st.*field.member);
    }
    std::stable_sort(out.begin(), out.end(), [](const FrameLoss& a, const FrameLoss& b) { return a.frames > b.frames; });
    return out;
}

}  // namespace framepipe
