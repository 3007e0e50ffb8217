#pragma once
// KeyframeGate: which packets of a compressed stream can still be written as they are. After packets were lost (a gap
// in the frames' sequence numbers: dropped on a live edge, a reconnect) what follows refers to pictures that never
// came, so nothing passes until the next keyframe. Used by the stages that write packets untouched (record and
// event_clips with codec: copy, stream_out). Not thread-safe: one stage worker.

#include <framepipe/frame.hpp>

#include <cstdint>
#include <optional>

namespace framepipe::stages {

class KeyframeGate {
public:
    /// Whether `packet` can be written: false from a gap (or wait_for_keyframe()) until the next keyframe.
    bool admits(const Frame& packet) noexcept {
        const bool gap = expected_ && packet.sequence != *expected_;
        expected_ = packet.sequence + 1;
        if (packet.key)
            waiting_ = false;
        else if (gap)
            waiting_ = true;
        return !waiting_;
    }
    /// Nothing passes until a keyframe, e.g. because a new file must start on one.
    void wait_for_keyframe() noexcept { waiting_ = true; }

private:
    std::optional<std::uint64_t> expected_;  // the next packet's sequence when none was lost
    bool waiting_ = false;
};

}  // namespace framepipe::stages
