#pragma once
// What a motion stage found in a frame, for the stages after it (event clips, a program's own stage):
//
//     if (const auto* motion = frame.find<framepipe::MotionAttachment>(); motion != nullptr && motion->event != 0)
//         save(frame, motion->regions);

#include <framepipe/frame.hpp>

#include <opencv2/core/types.hpp>

#include <cstdint>
#include <vector>

namespace framepipe {

/// Attached by every `motion` stage to every frame it passes. Nothing attached, or a reset attachment, means no motion.
struct MotionAttachment final : FrameAttachment {
    float share = 0;               // the share of the picture that moved, 0..1 (0 while the background model warms up)
    std::vector<cv::Rect> regions; // the moving regions, in this frame's pixels
    std::uint64_t event = 0;       // the motion event the frame belongs to, from 1; 0 = none

    void reset() noexcept override {
        share = 0;
        regions.clear();
        event = 0;
    }
    void copy_to(Frame& target) const override { target.attach<MotionAttachment>() = *this; }
};

}  // namespace framepipe
