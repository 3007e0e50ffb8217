#pragma once
// VideoFileSource: any container and codec the system's FFmpeg (libavformat) reads.
//
// The source only demuxes, on its own thread (reading a file is blocking I/O): it hands compressed packets to the
// stages it contributes to its chain, `decode` (libavcodec; in order for inter-frame codecs, in parallel for intra-only
// ones such as MJPEG) and `convert` (decoded picture to BGR with libswscale, in parallel). Decoding therefore runs on
// the flow graph and shows in the profile as a stage of its own.
//
// With `realtime`, packets are released at the file's own pace, as if it were a live camera: the source is then live
// (it never waits for the pipeline; the first edge drops the oldest frames).
//
// Sizes, rates and frame counts come from probing the file; a frame count the container does not state is estimated
// from duration and rate and marked as an estimate. Nothing is sized by it.

#include <framepipe/source.hpp>

#include <memory>
#include <optional>
#include <string>

namespace framepipe {

class VideoFileSource final : public Source {
public:
    struct Options {
        std::string path;
        std::string name;            // shown in reports; default: the file name
        bool realtime = false;       // replay at the file's own rate, as a live source
        int decode_threads = 1;      // libavcodec threads for inter-frame codecs (1 = decode on the graph only)
    };

    /// What probing a file says, for `framepipe probe` and for SourceInfo.
    struct Probe {
        std::string container;       // e.g. "mov,mp4,m4a,3gp,3g2,mj2"
        std::string codec;           // e.g. "h264"
        std::string pixel_format;    // e.g. "yuv420p"
        int width = 0;
        int height = 0;
        double fps = 0;              // average rate; 0 when unknown
        double duration = 0;         // seconds; 0 when unknown
        std::optional<std::int64_t> frame_count;  // as the container states it (may be wrong); nullopt when absent
        std::int64_t bit_rate = 0;
        bool intra_only = false;     // every frame decodes on its own (MJPEG, ...)
    };

    explicit VideoFileSource(Options options);
    ~VideoFileSource() override;

    /// Opens and probes a file without reading frames. Throws ConfigError naming the file when it is missing or is not
    /// a video FFmpeg can read.
    static Probe probe(const std::string& path);

    SourceInfo open() override;
    ReadResult read(Frame& frame, std::stop_token stop) override;
    void close() override;
    std::vector<std::unique_ptr<Stage>> decode_stages() override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe
