#pragma once
// VideoEncoder: BGR (or gray) frames to a video file with libavcodec + libavformat. The container follows the file's
// extension; the codec is chosen by a friendly name (h264, h265, vp9, mpeg4, mjpeg, ffv1) or any FFmpeg encoder name.
// Frames get constant-rate timestamps (frame count / fps). A frame of another size than the first is scaled to it.
//
// Not thread-safe: one writer thread. Errors throw framepipe::Error (runtime) or ConfigError (a codec or container
// this system lacks, or a bad option), naming the file.

#include <framepipe/clock.hpp>

#include <opencv2/core/mat.hpp>

#include <memory>
#include <string>

namespace framepipe::media {

class VideoEncoder {
public:
    struct Options {
        std::string codec = "h264";
        double fps = 25;
        int crf = 23;                     // quality for x264/x265/vp9 (lower is better); -1 = codec default
        std::string preset = "veryfast";  // x264/x265 speed preset
        std::int64_t bitrate = 0;         // bits per second; 0 = quality mode / codec default
        std::string pixel_format = "yuv420p";
        int gop = 0;                      // key frame interval; 0 = codec default
        bool fragmented = false;          // MP4/MOV: write self-contained fragments so a killed file stays playable
    };

    /// Checks that the codec and the container exist (ConfigError otherwise); opens nothing yet.
    VideoEncoder(std::string path, Options options);
    ~VideoEncoder();
    VideoEncoder(const VideoEncoder&) = delete;
    VideoEncoder& operator=(const VideoEncoder&) = delete;

    /// Encodes one frame; the first one fixes the video's size and opens the file.
    void write(const cv::Mat& image);
    /// Flushes the encoder and finalises the file. Idempotent. Called by the destructor if not called before.
    void finish();

    [[nodiscard]] std::int64_t frames_written() const noexcept;
    [[nodiscard]] const std::string& path() const noexcept;

    /// The encoders this system's FFmpeg offers for video, "name (codec)" each, for error messages and `stages`.
    static std::string available_encoders();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe::media
