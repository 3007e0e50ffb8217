#pragma once
// StreamActivity: what a live_view stage tells its server about its stream besides pictures: which source feeds it,
// the run's clock, and the frames reaching the stage (how many, at what rate, when the last one was captured, its
// size), counted whether anyone watches or not. The status route and the "signal lost" pictures read it
// (stream_status.hpp).
//
// Thread-safety: frame_seen() from the stage's thread only (one writer); everything else from any thread.

#include <framepipe/clock.hpp>

#include <opencv2/core/types.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

namespace framepipe::live {

class StreamActivity {
public:
    /// `clock`: the run's (StageContext::clock); must outlive this. `opened`: when the stream was added, on it.
    StreamActivity(std::uint32_t source_index, std::string source_name, const Clock& clock, TimePoint opened)
        : source_index_(source_index), source_name_(std::move(source_name)), clock_(clock), opened_(opened) {}

    /// A frame captured at `capture` (Frame::capture_time, the run's clock) reached the stage. Never blocks.
    void frame_seen(TimePoint capture, cv::Size size) noexcept;

    struct Seen {
        std::uint64_t frames = 0;       // since the stream opened
        std::optional<TimePoint> last;  // capture time of the newest one; none before the first
        double fps = 0;                 // over the last whole second of capture time (0 until one has passed since
                                        // the first frame, or since the first after a gap of over 5 s)
        cv::Size size;                  // of the newest one
    };
    [[nodiscard]] Seen seen() const noexcept;

    [[nodiscard]] std::uint32_t source_index() const noexcept { return source_index_; }
    [[nodiscard]] const std::string& source_name() const noexcept { return source_name_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
    [[nodiscard]] TimePoint opened() const noexcept { return opened_; }

private:
    const std::uint32_t source_index_;
    const std::string source_name_;
    const Clock& clock_;
    const TimePoint opened_;
    std::atomic<std::uint64_t> frames_{0};
    std::atomic<std::int64_t> last_ns_{0};  // read only once frames_ > 0
    std::atomic<double> fps_{0};
    std::atomic<int> width_{0};
    std::atomic<int> height_{0};
    // The writer's own: the rate's current window.
    TimePoint window_start_{};
    std::uint64_t window_frames_ = 0;
};

}  // namespace framepipe::live
