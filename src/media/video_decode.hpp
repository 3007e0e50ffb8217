#pragma once
// The decode stages a video source contributes to its chain:
//   decode  - compressed packet (Frame::encoded) to a decoded picture kept in libavcodec's reference-counted buffers
//             (a PictureAttachment, format native). Serial and in order for inter-frame codecs, holding frames back
//             while the decoder reorders (B-frames) and renumbering its output in picture order; parallel for
//             intra-only codecs, one codec context per worker. Each packet names the stream it belongs to
//             (PictureAttachment::stream, set by the source): the decoder opens itself for the first one and again
//             whenever a reopened source brings different parameters (another codec, size or extradata), so a source
//             that was not reachable when the run started, or came back changed, still decodes.
//   convert - decoded picture to 8-bit BGR in Frame::image with libswscale (colour matrix and range from the stream).
//             Parallel, one swscale context per worker; releases the decoder's buffer as soon as it has read it.

#include "av_support.hpp"

#include <framepipe/stage.hpp>

#include <memory>
#include <string>

namespace framepipe::media {

struct StreamParameters;

/// Rides on a frame (Frame::attach): the stream a packet belongs to, and later its decoded picture until `convert`
/// has read it.
class PictureAttachment final : public FrameAttachment {
public:
    PictureAttachment() : picture(av_frame_alloc()) {}
    void reset() noexcept override {
        av_frame_unref(picture.get());
        stream.reset();
    }
    void copy_to(Frame& target) const override;
    FramePtr picture;
    std::shared_ptr<const StreamParameters> stream;
};

/// The frame's PictureAttachment, made on first use (pooled frames keep it).
PictureAttachment& picture_slot(Frame& frame);

struct StreamParameters {
    ParametersPtr codec;            // a copy: the decoder does not depend on the source staying open
    AVRational time_base{1, 1};
    std::int64_t start_pts = 0;     // subtracted so media time starts at 0
    std::int64_t frame_ticks = 1;   // one frame at the nominal rate, in time_base
    bool intra_only = false;
    /// Clockwise quarter turns that show the picture upright (the container's display matrix; 0 when it has none or
    /// the source keeps the coded orientation). `convert` applies them.
    int quarter_turns = 0;
    std::int64_t max_pixels = 0;    // the decoder refuses larger pictures (VideoSource's max_pixels); 0 = no limit
    /// The source's audio stream, when it delivers one beside this video stream (AudioPackets); null otherwise.
    std::shared_ptr<const StreamParameters> audio;

    /// Whether a decoder opened for `other` decodes this stream too (same codec, size or sample rate and channels,
    /// format and extradata).
    [[nodiscard]] bool same_codec(const StreamParameters& other) const noexcept;
};

/// The decode stage: parallel when `intra_only` (every packet decodes alone), serial and in order otherwise (then with
/// `threads` libavcodec threads). `source_name` names the source in messages.
/// `keyframes_only`: the other packets are filtered (Outcome::drop) before they reach the decoder.
std::unique_ptr<Stage> make_decode_stage(bool intra_only, int threads, std::string source_name,
                                         bool keyframes_only = false);
std::unique_ptr<Stage> make_convert_stage();
/// The swscale context the convert stage uses for pictures of this geometry, pixel format, colour matrix
/// (AVColorSpace) and range (AVColorRange): same size, to BGR24, the matrix and range as the stream says. Null when
/// swscale cannot convert the format.
SwsPtr bgr_converter(int width, int height, int format, int colorspace, int range);
/// The row stride (bytes) a BGR24 destination needs for swscale to write every pixel of rows `width` wide. Its x86
/// converter from YUV works in groups of 8 pixels, and where the stride has no room for a row's last whole group it
/// leaves the row's last 1 to 7 pixels unwritten (FFmpeg 5.1: 168 of the widths 2 to 400, 854 among the common ones).
[[nodiscard]] std::size_t swscale_bgr_stride(int width);
/// A BGR24 picture of `size` that swscale writes whole: rows swscale_bgr_stride() apart and room for what it writes
/// past the last pixel (a view of a larger buffer, so not continuous where the width is not a multiple of 8).
[[nodiscard]] cv::Mat swscale_bgr_picture(cv::Size size);
/// swscale's BGR24 for `rows` rows (from an even row) of a YUV picture `width` wide, as the convert stage makes it (a
/// context of its own: for checks and measurements). Empty when swscale cannot convert it. The planes need the slack
/// FFmpeg's own buffers have: swscale reads whole vectors past a row's last sample.
[[nodiscard]] cv::Mat swscale_bgr(const std::uint8_t* const planes[3], const int strides[3], int width, int rows,
                                  int format, int colorspace, int range);
/// Whether a picture of this pixel format and AVColorRange holds full-range (JPEG) values.
[[nodiscard]] bool full_range_of(int format, int range);
/// swscale's matrix (SWS_CS_*) for an AVColorSpace, as the convert stage chooses it.
[[nodiscard]] int swscale_matrix_of(int colorspace);
/// Whether `stage` is a convert stage (for the planner's rules).
[[nodiscard]] bool is_convert_stage(const Stage& stage);

}  // namespace framepipe::media
