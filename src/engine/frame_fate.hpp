#pragma once
// FrameFate: what became of a frame at one stage of its chain, noted by the engine where it happens (the stage's runner,
// or the edge in front of the stage when the edge let go of it), for the frame's lineage (LineageLog). One byte per
// stage, kept beside the pooled frame (PoolSlot), never in Frame: it is the engine's bookkeeping, not the stages'.
//
// Thread-safety: fates[i] is written only by whoever holds the frame at stage i (its runner, or its input edge), one
// after the other; different stages of a shared frame are different bytes. Read when the frame's last reference goes.

#include <framepipe/frame.hpp>

#include <array>
#include <cstdint>
#include <string_view>

namespace framepipe::detail {

enum class FrameFate : std::uint8_t {
    none = 0,  // not reached, or still there when the run ended (queued or being processed)
    // In the stage (its StageCounts):
    passed,
    filtered,
    rejected,
    failed,
    ended,      // the stage asked for the end of the stream on it
    held,       // held back (Outcome::hold) and never flushed
    discarded,  // held back, then thrown away because the run was aborted
    copied,     // another branch still shared it: the stage went on with a copy (the copy's record says the rest)
    // At the edge in front of the stage (its EdgeCounts):
    dropped_oldest,
    dropped_newest,
    replaced,        // a `latest` edge took a newer frame instead
    expired,         // older than the edge's max_age
    edge_discarded,  // the edge was closed (end of a branch, stop, abort) before the stage took it
    // Only in a copy's record: a stage before the copy was made (the original's record has it).
    before_copy,
};

/// The lowercase name written in lineage files (the same words as the report's counters).
[[nodiscard]] constexpr std::string_view to_string(FrameFate fate) noexcept {
    switch (fate) {
        case FrameFate::none: return "unfinished";
        case FrameFate::passed: return "passed";
        case FrameFate::filtered: return "filtered";
        case FrameFate::rejected: return "rejected";
        case FrameFate::failed: return "failed";
        case FrameFate::ended: return "ended";
        case FrameFate::held: return "held";
        case FrameFate::discarded: return "discarded";
        case FrameFate::copied: return "copied";
        case FrameFate::dropped_oldest: return "dropped_oldest";
        case FrameFate::dropped_newest: return "dropped_newest";
        case FrameFate::replaced: return "replaced";
        case FrameFate::expired: return "expired";
        case FrameFate::edge_discarded: return "discarded_on_edge";
        case FrameFate::before_copy: return "before_copy";
    }
    return "unfinished";
}

/// The frame's lineage notes: which kind of frame it is and its fate at each stage. Cleared when the pool hands it out.
struct FrameLineage {
    enum class Kind : std::uint8_t {
        unused,    // not (yet) a captured frame: nothing to record when it goes back to the pool
        captured,  // read from the source
        copy,      // a branch's copy of a captured frame (copy on write)
    };
    Kind kind = Kind::unused;
    std::array<FrameFate, kMaxStagesPerLane> fates{};
};

}  // namespace framepipe::detail
