#pragma once
// The decode stages a video source contributes to its chain:
//   decode  - compressed packet (Frame::encoded) to a decoded picture kept in libavcodec's reference-counted buffers
//             (Frame::attachment, format native). Serial and in order for inter-frame codecs, holding frames back
//             while the decoder reorders (B-frames) and renumbering its output in picture order; parallel for
//             intra-only codecs, one codec context per worker.
//   convert - decoded picture to 8-bit BGR in Frame::image with libswscale (colour matrix and range from the stream).
//             Parallel, one swscale context per worker; releases the decoder's buffer as soon as it has read it.

#include "av_support.hpp"

#include <framepipe/stage.hpp>

#include <memory>
#include <string>

namespace framepipe::media {

/// Holds a decoded picture on a frame (Frame::attachment) until `convert` has read it.
class PictureAttachment final : public FrameAttachment {
public:
    PictureAttachment() : picture(av_frame_alloc()) {}
    void reset() noexcept override { av_frame_unref(picture.get()); }
    FramePtr picture;
};

struct StreamParameters {
    ParametersPtr codec;            // a copy: the decoder does not depend on the source staying open
    AVRational time_base{1, 1};
    std::int64_t start_pts = 0;     // subtracted so media time starts at 0
    bool intra_only = false;
    int threads = 1;
    std::string source_name;
};

std::unique_ptr<Stage> make_decode_stage(StreamParameters parameters);
std::unique_ptr<Stage> make_convert_stage();

}  // namespace framepipe::media
