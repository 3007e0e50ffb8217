#pragma once
// VideoEncoder: BGR (or gray) frames to a video file with libavcodec + libavformat. The container follows the file's
// extension; the codec is chosen by a friendly name (h264, h265, vp9, mpeg4, mjpeg, ffv1) or any FFmpeg encoder name.
// A frame of another size than the first is scaled to it.
//
// Timestamps: write(image, media_time) keeps the source's timing (gaps of a variable frame rate stay gaps): pts is
// media_time relative to the first frame written, in a 1/90000 time base (1/1000, or 1/fps when the codec takes no
// finer one; 1/fps for AVI, which has no timestamps of its own); a pts that would not increase is moved to one tick
// after the previous one. write(image) numbers frames at the constant rate `fps`.
//
// Durability: the file is written through the encoder's own file handle. With flush_interval > 0 the muxer and the
// file are flushed whenever that much media time was written since the last flush, so a SIGKILL loses at most
// flush_interval of media time plus the encoder's delay (none with low_delay). frames_durable() counts the frames that
// reached the file. When a write finds the disk full (ENOSPC, EDQUOT) and a make_room callback is set, it is called and
// the write retried for as long as it frees space.
//
// Not thread-safe: one writer thread. Errors throw framepipe::Error (runtime) or ConfigError (a codec or container
// this system lacks, or a bad option), naming the file. After a failed write() or finish() the file is closed
// (what reached it stays) and the encoder takes no more frames.

#include <framepipe/clock.hpp>

#include <opencv2/core/mat.hpp>

#include <functional>
#include <stop_token>
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
        // No lookahead, no B-frames, no frame threads (x264/x265 tune zerolatency; lag-in-frames 0 where the codec
        // has it): each frame is a packet as soon as it is sent, so a flush holds every frame written so far. Costs
        // some compression.
        bool low_delay = false;
        Duration flush_interval{};        // > 0: flush muxer and file every this much media time; 0 = when AVIO fills
    };

    /// Called when a write finds the disk full; returns true when it freed space (the write is retried), false to
    /// give up (the write fails).
    using MakeRoom = std::function<bool()>;

    /// Checks that the codec and the container exist (ConfigError otherwise); opens nothing yet.
    VideoEncoder(std::string path, Options options);
    ~VideoEncoder();
    VideoEncoder(const VideoEncoder&) = delete;
    VideoEncoder& operator=(const VideoEncoder&) = delete;

    /// Set before the first write.
    void on_full_disk(MakeRoom make_room);

    /// Encodes one frame at the next constant-rate timestamp; the first one fixes the video's size and opens the file.
    void write(const cv::Mat& image);
    /// Encodes one frame at media_time (see Timestamps above).
    void write(const cv::Mat& image, Duration media_time);
    /// Flushes the encoder and finalises the file. Idempotent. Called by the destructor if not called before. When
    /// `abort` is requested (before or while it drains a slow encoder), the frames still inside the encoder are given
    /// up and the file is finalised at once with what was written: frames_written() - frames_durable() were lost.
    void finish(std::stop_token abort = {});

    /// Frames taken by write().
    [[nodiscard]] std::int64_t frames_written() const noexcept;
    /// Frames whose packets reached the file (were handed to the OS): all of them after finish().
    [[nodiscard]] std::int64_t frames_durable() const noexcept;
    [[nodiscard]] const std::string& path() const noexcept;
    /// True after a write failed because the disk was full (ENOSPC, EDQUOT) and make_room freed nothing more.
    [[nodiscard]] bool disk_full() const noexcept;

    /// The encoders this system's FFmpeg offers for video, "name (codec)" each, for error messages and `stages`.
    static std::string available_encoders();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Creates `dir` and its parents and checks that a file can be created in it, before any frame is read: ConfigError
/// naming `who` (the stage), the folder and what to do otherwise (a read-only folder, a path under a regular file).
void prepare_output_folder(const std::string& dir, const std::string& who);
/// Creates the file at `path` (empty; its folder with prepare_output_folder) so that a permission problem shows before
/// any frame is read: ConfigError naming `who`, the file and what to do otherwise.
void create_output_file(const std::string& path, const std::string& who);

/// True when the file holds at least one video frame that decodes (libavformat opens it, a packet reads and the
/// decoder returns a picture). For deciding whether a file a killed run left behind is worth keeping.
bool holds_playable_frame(const std::string& path);

}  // namespace framepipe::media
