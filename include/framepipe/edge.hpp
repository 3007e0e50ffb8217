#pragma once
// How two stages are joined. Every edge is a bounded queue with its own capacity and overflow policy (the table
// `overflow_policies` below is what the pipeline file, the command's help and the report accept and print).
//
// `max_age`, when set, drops a frame that has waited (since capture) longer than that before the consumer takes it,
// so an expensive stage never spends time on stale frames. Every drop is counted per edge and per cause (EdgeCounts).

#include <framepipe/clock.hpp>
#include <framepipe/counters.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace framepipe {

enum class Overflow { block, drop_oldest, drop_newest, latest };

struct OverflowPolicy {
    Overflow value;
    std::string_view name;       // as written in pipeline files and reports
    std::string_view when_full;  // what happens when the edge is full, for help texts
};

inline constexpr std::array overflow_policies = {
    // The producer waits for space (backpressure). Nothing is lost; a slow consumer slows the source. The default
    // for file input.
    OverflowPolicy{Overflow::block, "block", "the producer waits: backpressure, nothing lost"},
    // A full edge evicts its oldest frame to admit the new one: the consumer always sees the newest frames and latency
    // stays bounded. The default after a live source. (Oldest still queued: a frame a consumer is taking at that
    // instant is delivered, and the next oldest goes instead.)
    OverflowPolicy{Overflow::drop_oldest, "drop_oldest", "the oldest queued frame is evicted"},
    // A full edge rejects the incoming frame: the consumer keeps working through what it already has.
    OverflowPolicy{Overflow::drop_newest, "drop_newest", "the incoming frame is rejected"},
    // The edge holds one frame, whatever its capacity: a push replaces the frame waiting there, so the consumer always
    // takes the newest frame (a live view, a display). The producer never waits for space (at most, like drop_oldest,
    // for a consumer that is taking the waiting frame at that instant).
    OverflowPolicy{Overflow::latest, "latest", "keeps one frame: a new frame replaces the waiting one"},
};

[[nodiscard]] constexpr std::string_view to_string(Overflow overflow) noexcept {
    for (const OverflowPolicy& policy : overflow_policies)
        if (policy.value == overflow) return policy.name;
    return "?";
}
/// Parses a policy's name. Returns nullopt for anything else.
[[nodiscard]] constexpr std::optional<Overflow> parse_overflow(std::string_view text) noexcept {
    for (const OverflowPolicy& policy : overflow_policies)
        if (policy.name == text) return policy.value;
    return std::nullopt;
}
/// The policies' names joined for messages: "a, b or c" (`last` = " or "), or "a|b|c" (separator = last = "|").
[[nodiscard]] inline std::string overflow_names(std::string_view separator = ", ", std::string_view last = " or ") {
    std::string names;
    for (std::size_t i = 0; i < overflow_policies.size(); ++i) {
        if (i > 0) names += i + 1 == overflow_policies.size() ? last : separator;
        names += overflow_policies[i].name;
    }
    return names;
}

/// Options of the edge in front of a stage. Unset fields take the pipeline's defaults, which depend on whether the
/// source is live (see PipelineOptions).
struct EdgeOptions {
    std::optional<std::size_t> capacity;
    std::optional<Overflow> overflow;
    std::optional<Duration> max_age;
};

/// What an edge has seen. pushed == delivered + dropped() + queued.
struct EdgeCounts {
    std::uint64_t pushed = 0;
    std::uint64_t delivered = 0;
    std::uint64_t dropped_oldest = 0;
    std::uint64_t dropped_newest = 0;
    std::uint64_t replaced = 0;
    std::uint64_t expired = 0;
    std::uint64_t discarded = 0;
    std::uint64_t queued = 0;
    std::uint64_t peak_depth = 0;
    Duration blocked_time{};

    static constexpr auto counters() {
        using F = CounterField<EdgeCounts>;
        using enum CounterRole;
        return std::array{
            F{&EdgeCounts::pushed, "pushed", count, "Frames offered to the edge."},
            F{&EdgeCounts::delivered, "delivered", count, "Frames a consumer took from the edge."},
            F{&EdgeCounts::dropped_oldest, "oldest", drop, "Evicted to admit a newer frame (drop_oldest)."},
            F{&EdgeCounts::dropped_newest, "newest", drop, "Rejected because the edge was full (drop_newest)."},
            F{&EdgeCounts::replaced, "replaced", drop, "Replaced by a newer frame while waiting (latest).", {}, false},
            F{&EdgeCounts::expired, "expired", drop, "Older than max_age when a consumer reached them."},
            F{&EdgeCounts::discarded, "discarded", drop,
              "Pushed after the edge closed, or thrown away when the run was aborted (a stop timeout, an error, an "
              "end-of-stream request downstream)."},
            F{&EdgeCounts::queued, "queued", level, "Frames waiting in the edge into a stage.",
              "framepipe_edge_queued_frames"},
            F{&EdgeCounts::peak_depth, "peak_depth", level, "Most frames queued at once."},
        };
    }
    static constexpr auto times() {
        return std::array{TimeField<EdgeCounts>{&EdgeCounts::blocked_time, "blocked_ms",
                                                "Time the producer waited for space (block policy).", {}}};
    }
    static constexpr DropGroup drops() {
        return {"dropped", "framepipe_edge_frames_dropped_total", "Frames an edge dropped, by cause.", true};
    }

    [[nodiscard]] std::uint64_t dropped() const noexcept { return sum_of_drops(*this); }
    [[nodiscard]] bool balanced() const noexcept { return pushed == delivered + dropped() + queued; }
};

}  // namespace framepipe
