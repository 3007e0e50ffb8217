#pragma once
// A source delivers frames: a camera, a file, a folder of images, a network stream, a test pattern.
//
// Lifecycle and threading: the engine calls open() once, then read() repeatedly from one dedicated thread (never a
// TBB worker, since reads block), then close() once from that same thread, whether the run ended normally, was stopped
// or failed.
//
// Stop: once `stop` is requested, read() must not wait (no pacing, no blocking read beyond a short bound) and returns
// end_of_stream as soon as what it already delivered is complete. A source whose frames depend on each other may first
// deliver the few frames needed to finish the pictures already delivered (a video's B-frames that display before a
// reference frame it delivered), so a stop never leaves holes in the output; the engine accepts at most
// kMaxFramesAfterStop such frames.

#include <framepipe/clock.hpp>
#include <framepipe/error.hpp>
#include <framepipe/frame.hpp>

#include <opencv2/core/types.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>
#include <optional>
#include <stop_token>
#include <string>

namespace framepipe {

class Stage;

/// What a source says about itself after open(). Sizes and rates are what the source believes; stages must still
/// accept frames that differ (a camera may change resolution, a file may lie about its frame count).
struct SourceInfo {
    std::string name;        // shown in reports and errors: a file name, a device, "synthetic"
    bool live = false;       // frames arrive at the source's own pace and cannot wait for the pipeline
    double fps = 0;          // nominal frame rate; 0 when unknown
    cv::Size size{};         // nominal frame size; empty when unknown
    int type = 16;           // nominal pixel type (CV_8UC3)
    std::optional<std::int64_t> frame_count;  // for progress only, never for sizing: may be wrong
    bool frame_count_estimated = false;       // frame_count was derived from duration and rate
    double duration = 0;                      // seconds of media; 0 when unknown or live
    std::string path;                         // the file or folder read, when there is one
    /// The engine reopens the source when it stops delivering (read() throws, or a live source ends), with
    /// exponential backoff from backoff_initial to backoff_max, instead of ending the run. Other sources are unaffected.
    bool supervised = false;
    Duration backoff_initial = std::chrono::milliseconds(250);
    Duration backoff_max = std::chrono::seconds(30);
};

/// Thrown by open() when the input cannot be reached now but may come back (a camera or stream that does not answer)
/// and the source is supervised: the run starts with this input's signal lost while the other inputs run, and the
/// engine reopens it with backoff as it would a lost one. `info` describes the source as far as it is known unopened.
class SourceUnavailable : public Error {
public:
    SourceUnavailable(const std::string& what, SourceInfo info) : Error(what), info_(std::move(info)) {}
    [[nodiscard]] const SourceInfo& info() const noexcept { return info_; }

private:
    SourceInfo info_;
};

enum class ReadResult { frame, end_of_stream };

/// Most frames the engine takes from a source after a stop was requested (see the stop contract above).
inline constexpr int kMaxFramesAfterStop = 64;

class Source {
public:
    virtual ~Source() = default;

    /// Opens the input. Throws ConfigError for a bad request (missing file, unknown option), Error otherwise. Must
    /// return (throwing Error) promptly once `stop` is requested: an input that blocks on open (a FIFO without a
    /// writer, a camera or server that does not answer) never keeps a run from stopping. A pipeline opens its sources
    /// side by side, each on a thread of its own: open() must not touch what other sources' open() touches.
    virtual SourceInfo open(std::stop_token stop) = 0;

    /// Fills `frame.image` and `frame.media_time` (the engine sets source, sequence and capture_time). The frame's
    /// image buffer may be reused: write into it rather than replacing it where the size allows. Returns
    /// end_of_stream when there are no more frames, or after a stop once what was delivered is complete (see above).
    /// Throws Error on a failure that ends the input (the run then ends with an error naming this source and frame).
    virtual ReadResult read(Frame& frame, std::stop_token stop) = 0;

    /// Releases the input. Called once, after the last read().
    virtual void close() {}

    /// After read() returned end_of_stream: why the input ended before its natural end (a read error, a file cut
    /// short), for the report and a warning; empty when it simply ended (or stop was requested). Called from the
    /// reading thread.
    [[nodiscard]] virtual std::string ended_early() const { return {}; }

    /// The stages that turn what read() delivers into BGR frames (a decoder, a colour conversion), which the pipeline
    /// puts at the head of this source's chain so that decoding is scheduled like any stage and shows in the profile
    /// as a stage of its own. Called once, after open(). Sources that deliver BGR frames return none.
    virtual std::vector<std::unique_ptr<Stage>> decode_stages();
    /// Called by the pipeline before decode_stages(): how many of its inputs decode side by side (its sources whose
    /// pictures a stage takes, this one included), so that a decoder with threads of its own shares the processors
    /// with the others' instead of each taking them all. Sources without such a decoder ignore it.
    virtual void decode_alongside(std::size_t inputs) { (void)inputs; }
    /// How many stages decode_stages() returns, known before open() (so a pipeline can be checked without opening).
    [[nodiscard]] virtual std::size_t decode_stage_count() const { return 0; }
    /// Called by the pipeline before open(): whether a branch takes this source's compressed packets (`from: packets`).
    /// A source with an audio stream then delivers its audio packets riding on the video packets, so recordings by
    /// copy carry the sound. Sources without audio ignore it.
    virtual void keep_audio(bool keep) { (void)keep; }

    /// The clock a source paces itself by, measures its timeouts on and stamps arrival times with: the pipeline's
    /// (PipelineOptions::clock), set before open(). A source used on its own runs on SteadyClock.
    [[nodiscard]] const Clock& clock() const noexcept;
    /// Called by the pipeline before open(); `clock` must outlive the source's use.
    void use_clock(const Clock& clock) noexcept { clock_ = &clock; }

private:
    const Clock* clock_ = nullptr;
};

}  // namespace framepipe
