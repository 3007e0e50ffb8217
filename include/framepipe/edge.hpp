#pragma once
// How two stages are joined. Every edge is a bounded queue with its own capacity and overflow policy:
//
//   block        the producer waits for space (backpressure). Nothing is lost; a slow consumer slows the source.
//                The default for file input.
//   drop_oldest  a full edge evicts its oldest frame to admit the new one: the consumer always sees the newest
//                frames and latency stays bounded. The default after a live source. (Oldest still queued: a frame a
//                consumer is taking at that instant is delivered, and the next oldest goes instead.)
//   drop_newest  a full edge rejects the incoming frame: the consumer keeps working through what it already has.
//
// `max_age`, when set, drops a frame that has waited (since capture) longer than that before the consumer takes it,
// so an expensive stage never spends time on stale frames. Every drop is counted per edge and per cause.

#include <framepipe/clock.hpp>

#include <cstddef>
#include <optional>
#include <string_view>

namespace framepipe {

enum class Overflow { block, drop_oldest, drop_newest };

[[nodiscard]] std::string_view to_string(Overflow overflow) noexcept;
/// Parses "block", "drop_oldest", "drop_newest". Returns nullopt for anything else.
[[nodiscard]] std::optional<Overflow> parse_overflow(std::string_view text) noexcept;

/// Options of the edge in front of a stage. Unset fields take the pipeline's defaults, which depend on whether the
/// source is live (see PipelineOptions).
struct EdgeOptions {
    std::optional<std::size_t> capacity;
    std::optional<Overflow> overflow;
    std::optional<Duration> max_age;
};

}  // namespace framepipe
