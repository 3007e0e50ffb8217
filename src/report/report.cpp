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

std::uint64_t SourceReport::dropped() const noexcept {
    std::uint64_t total = sum_of_drops<SourceCounts>(*this);
    for (const EdgeReport& edge : edges) total += edge.dropped();
    for (const StageReport& stage : stages) total += stage.dropped();
    return total;
}

std::uint64_t SourceReport::queued() const noexcept {
    std::uint64_t total = 0;
    for (const EdgeReport& edge : edges) total += edge.queued;
    for (const StageReport& stage : stages) total += stage.held;
    return total;
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
    return captured == delivered + dropped() + queued();
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
