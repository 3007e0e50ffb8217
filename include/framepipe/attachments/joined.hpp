#pragma once
// What a join (Pipeline::add_join) puts on each frame it makes: one picture per input, for the stages of the joined
// chain (a `mosaic` composes them; a program's own stage may do anything else with them):
//
//     for (const framepipe::JoinedPicture& input : frame.find<framepipe::JoinedPictures>()->inputs)
//         if (!input.image.empty()) show(input.name, input.image);

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>

#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace framepipe {

/// One input's picture in a joined frame.
struct JoinedPicture {
    std::string name;           // the input's source name
    cv::Mat image;              // empty while the input has delivered nothing; never written to (shared between frames)
    Duration media_time{};      // of that picture on its input
    TimePoint capture_time{};
    std::uint64_t sequence = 0; // the frame's number on its input
    bool fresh = false;         // not in the joined frame before this one
    bool ended = false;         // the input has ended: this is its last picture
};

/// Attached by the join's source to every frame it makes: the inputs in the order they were given to add_join.
struct JoinedPictures final : FrameAttachment {
    std::vector<JoinedPicture> inputs;
    void reset() noexcept override { inputs.clear(); }
    void copy_to(Frame& target) const override { target.attach<JoinedPictures>() = *this; }
};

}  // namespace framepipe
