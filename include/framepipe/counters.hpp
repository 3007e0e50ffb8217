#pragma once
// Counter fields: each integer count and accumulated time a report carries is described once, in a list next to the
// struct that holds it (EdgeCounts in edge.hpp; StageCounts and SourceCounts in report.hpp). The live accumulator
// (src/engine/live_counters.hpp), the snapshot, the drop and queue totals, the JSON writer and reader, the text summary
// totals and the Prometheus exposition all iterate these lists, so a new counter is one member and one list entry.
//
// A counts struct `C` provides:
//   static constexpr auto counters()  -> std::array<CounterField<C>, N>
//   static constexpr auto times()     -> std::array<TimeField<C>, M>
//   static constexpr DropGroup drops()

#include <framepipe/clock.hpp>

#include <cstdint>
#include <string_view>

namespace framepipe {

// The words of the report: a frame that did not reach the end of its branch was *filtered* (a stage chose not to pass
// it on: decimation, thumbnail selection, a requested end), *rejected* (its data was bad) or *dropped* (lost: an
// overflow, a maximum age, a stop, an error). Only drops are loss; each has a cause.
enum class CounterRole {
    count,   // accumulates over the run (Prometheus counter)
    drop,    // accumulates, and is a cause of loss: summed into the owner's dropped total
    filter,  // accumulates: frames a stage chose not to pass on (not loss)
    reject,  // accumulates: frames refused as bad data
    level,   // a current or peak value (Prometheus gauge); snapshots set it, nothing accumulates it
};

template <class Counts>
struct CounterField {
    std::uint64_t Counts::*member;
    std::string_view key;     // JSON key; a drop cause's key sits inside the group named by Counts::drops().json_group
    CounterRole role;
    std::string_view help;    // one sentence, also the Prometheus HELP text
    std::string_view metric;  // its own Prometheus family; empty: none (a drop cause is still in the drop family)
    bool required = true;     // a report without it is refused; false for fields added later (absent reads as 0)
};

template <class Counts>
struct TimeField {
    Duration Counts::*member;
    std::string_view key;     // JSON key, in milliseconds
    std::string_view help;
    std::string_view metric;  // Prometheus counter in seconds; empty: none
};

/// How a kind's drop causes appear together.
struct DropGroup {
    std::string_view json_group;  // JSON object holding one key per cause plus "total"; empty: causes at top level
    std::string_view metric;      // Prometheus counter family of the drops; empty: none
    std::string_view help;
    bool by_cause;                // the family is labelled cause="KEY" per cause; otherwise one total sample
};

/// Sum of the fields with `role`.
template <class Counts>
[[nodiscard]] constexpr std::uint64_t sum_of(const Counts& counts, CounterRole role) noexcept {
    std::uint64_t total = 0;
    for (const auto& field : Counts::counters())
        if (field.role == role) total += counts.*field.member;
    return total;
}
/// Sum of the fields with role `drop`: the frames lost.
template <class Counts>
[[nodiscard]] constexpr std::uint64_t sum_of_drops(const Counts& counts) noexcept {
    return sum_of(counts, CounterRole::drop);
}

}  // namespace framepipe
