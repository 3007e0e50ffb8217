#include <framepipe/clock.hpp>
#include <framepipe/edge.hpp>
#include <framepipe/report.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace framepipe {

const SteadyClock& SteadyClock::instance() noexcept {
    static const SteadyClock clock;
    return clock;
}

std::vector<std::size_t> SourceReport::branch_to(std::size_t stage) const {
    std::vector<std::size_t> path;
    // Reports read from JSON written before branches existed carry no from_stage: a line.
    for (std::optional<std::size_t> s = stage; s && *s < stages.size() && path.size() <= stages.size();) {
        path.push_back(*s);
        s = *s < edges.size() ? edges[*s].from_stage : std::nullopt;
    }
    std::reverse(path.begin(), path.end());
    return path;
}

std::vector<std::size_t> SourceReport::branch_ends() const {
    std::vector<bool> feeds(stages.size(), false);
    for (const EdgeReport& edge : edges)
        if (edge.from_stage && *edge.from_stage < feeds.size()) feeds[*edge.from_stage] = true;
    std::vector<std::size_t> ends;
    for (std::size_t s = 0; s < stages.size(); ++s)
        if (!feeds[s]) ends.push_back(s);
    return ends;
}

namespace {

// The fields with `role` of the source itself and of every edge and stage on the way to stages[end].
std::uint64_t on_branch(const SourceReport& s, std::size_t end, CounterRole role) {
    std::uint64_t total = sum_of<SourceCounts>(s, role);
    for (const std::size_t i : s.branch_to(end)) {
        if (i < s.edges.size()) total += sum_of<EdgeCounts>(s.edges[i], role);
        total += sum_of<StageCounts>(s.stages[i], role);
    }
    return total;
}

}  // namespace

std::uint64_t SourceReport::dropped_on_branch(std::size_t end) const { return on_branch(*this, end, CounterRole::drop); }
std::uint64_t SourceReport::filtered_on_branch(std::size_t end) const { return on_branch(*this, end, CounterRole::filter); }
std::uint64_t SourceReport::rejected_on_branch(std::size_t end) const { return on_branch(*this, end, CounterRole::reject); }

std::uint64_t SourceReport::queued_on_branch(std::size_t end) const {
    std::uint64_t total = 0;
    for (const std::size_t s : branch_to(end)) {
        if (s < edges.size()) total += edges[s].queued;
        total += stages[s].held;
    }
    return total;
}

std::uint64_t SourceReport::dropped() const noexcept {
    if (main_branch >= stages.size()) return sum_of_drops<SourceCounts>(*this);
    return dropped_on_branch(main_branch_end());
}
std::uint64_t SourceReport::filtered() const noexcept {
    return main_branch >= stages.size() ? 0 : filtered_on_branch(main_branch_end());
}
std::uint64_t SourceReport::rejected() const noexcept {
    return main_branch >= stages.size() ? 0 : rejected_on_branch(main_branch_end());
}

std::uint64_t SourceReport::queued() const noexcept {
    if (main_branch >= stages.size()) return 0;
    return queued_on_branch(main_branch_end());
}

std::uint64_t SourceReport::damaged() const noexcept {
    std::uint64_t total = 0;
    for (const StageReport& stage : stages) total += stage.damaged;
    return total;
}

std::uint64_t SourceReport::unwritten() const noexcept {
    std::uint64_t total = 0;
    for (const StageReport& stage : stages) total += stage.unwritten;
    return total;
}

double SourceReport::fps() const noexcept {
    const double seconds = in_seconds(active_time);
    return seconds > 0 && delivered > 1 ? static_cast<double>(delivered - 1) / seconds : 0.0;
}

bool SourceReport::balanced() const noexcept {
    if (!std::all_of(edges.begin(), edges.end(), [](const EdgeReport& e) { return e.balanced(); })) return false;
    if (main_branch >= stages.size()) return captured == delivered + dropped();
    if (captured != settled() + queued()) return false;
    for (const std::size_t end : branch_ends())
        if (captured != stages[end].passed + dropped_on_branch(end) + filtered_on_branch(end) + rejected_on_branch(end) +
                            queued_on_branch(end))
            return false;
    return true;
}

bool RunReport::balanced() const noexcept {
    return std::all_of(sources.begin(), sources.end(), [](const SourceReport& s) { return s.balanced(); });
}

std::string RunError::describe() const {
    std::string text = source.empty() || source == stage ? fmt::format("'{}'", stage)
                                                         : fmt::format("{}: stage '{}'", source, stage);
    if (frame) text += fmt::format(", frame {}", *frame);
    return fmt::format("{}: {}", text, message);
}

}  // namespace framepipe
