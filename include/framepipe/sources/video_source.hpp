#pragma once
// VideoSource: anything FFmpeg opens as video: files of any container and codec, network streams (rtsp://,
// http:// MJPEG or MPEG-TS, udp://, ...), and capture devices (V4L2 cameras: /dev/video0).
//
// The source only demuxes, on its own thread (reads block): it hands compressed packets to the stages it contributes
// to its chain, `decode` (libavcodec; in order for inter-frame codecs, in parallel for intra-only ones such as MJPEG)
// and `convert` (decoded picture to BGR with libswscale, in parallel). Decoding therefore runs on the flow graph and
// shows in the profile as a stage of its own.
//
// Live input (streams, cameras, and files with `realtime`) never waits for the pipeline: the first edge drops the
// oldest frames. Opening and every read of a stream or camera have timeouts, so a dead camera or server cannot hang the
// run; the engine's supervisor then reopens the source with exponential backoff (SourceInfo::supervised).
//
// Sizes, rates and frame counts come from probing; a frame count the container does not state is estimated from
// duration and rate and marked as an estimate. Nothing is sized by it.

#include <framepipe/clock.hpp>
#include <framepipe/source.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace framepipe {

class VideoSource final : public Source {
public:
    enum class Kind { file, stream, camera };

    struct Options {
        std::string path;            // a file, a URL, or a device (/dev/video0)
        std::string name;            // shown in reports; default: the file name, URL or device
        bool realtime = false;       // files: replay at the file's own rate, as a live source
        /// libavcodec threads for inter-frame codecs: 1 decodes on the graph only; 0 (automatic) is one more than the
        /// processors for a file (at most 8; 1 on a single processor: a lone input still has them all) and 1 for live
        /// input (each thread delays a picture).
        int decode_threads = 0;
        /// Decode keyframes only (the other packets are filtered before the decoder, still offered `from: packets`):
        /// a picture a second or so for motion detection on a camera whose packets are recorded untouched.
        bool keyframes_only = false;
        bool autorotate = true;      // show pictures upright as the container's display matrix says (false: as coded)
        /// Pictures with more pixels are rejected undecoded (the decoder refuses them before allocating): a codec's
        /// own header may state a size far from the container's (VP8 up to 16383x16383 in a few bytes).
        std::int64_t max_pixels = 100'000'000;
        Duration open_timeout = std::chrono::seconds(10);  // streams and cameras
        Duration read_timeout = std::chrono::seconds(5);   // streams and cameras: no packet for this long = lost
        std::optional<bool> reconnect;                     // default: on for streams and cameras
        Duration backoff_max = std::chrono::seconds(30);
        // Cameras: what to ask for (empty = the device's default). MJPEG is tried first when no format is given.
        std::string video_size;      // "1280x720"
        std::string framerate;       // "30"
        std::string input_format;    // "mjpeg", "yuyv422", ...
        /// Further FFmpeg demuxer or protocol options, e.g. {"rtsp_transport", "udp"}.
        std::map<std::string, std::string> ffmpeg_options;
    };

    /// What probing an input says, for `framepipe probe` and for SourceInfo.
    struct Probe {
        std::string container;       // e.g. "mov,mp4,m4a,3gp,3g2,mj2"
        std::string codec;           // e.g. "h264"
        std::string pixel_format;    // e.g. "yuv420p"
        int width = 0;
        int height = 0;
        double fps = 0;              // average rate; 0 when unknown
        double duration = 0;         // seconds; 0 when unknown or live
        std::optional<std::int64_t> frame_count;  // as the container states it (may be wrong); nullopt when absent
        std::int64_t bit_rate = 0;
        bool intra_only = false;     // every frame decodes on its own (MJPEG, ...)
    };

    explicit VideoSource(Options options);
    ~VideoSource() override;

    /// Files, streams and cameras, told apart by the path: anything that starts with a scheme ("rtsp://", "http://":
    /// a letter, then letters, digits, '+', '-' or '.', then "://") is a stream; "/dev/video*" a camera.
    [[nodiscard]] static Kind kind_of(const std::string& path);
    /// An input as messages, logs, reports and the live view may show it: in a URL, the password of user:password@ and
    /// the value of every query parameter whose name holds pass, pwd, secret, token, key, auth, sig, credential,
    /// session, cookie or ticket (any case) become "***": "rtsp://admin:***@host/x?channel=1&token=***". Anything
    /// else is returned as it is. Every place that prints or stores an input path uses this.
    [[nodiscard]] static std::string redacted(const std::string& url);

    /// Opens and probes an input without reading frames. Throws ConfigError naming a file that is missing or not a
    /// video, Error for a stream or device that cannot be opened in time.
    static Probe probe(const std::string& path);

    SourceInfo open(std::stop_token stop) override;
    ReadResult read(Frame& frame, std::stop_token stop) override;
    void close() override;
    /// A read error, or a file that ends well before the duration its header states (cut short).
    [[nodiscard]] std::string ended_early() const override;
    std::vector<std::unique_ptr<Stage>> decode_stages() override;
    [[nodiscard]] std::size_t decode_stage_count() const override { return 2; }  // decode, convert
    void keep_audio(bool keep) override;
    void decode_alongside(std::size_t inputs) override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe
