#pragma once
// What a motion stage found in a frame, for the stages after it (event clips, a program's own stage), and its events
// by media time for stages on other branches (MotionTimeline):
//
//     if (const auto* motion = frame.find<framepipe::MotionAttachment>(); motion != nullptr && motion->event != 0)
//         save(frame, motion->regions);

#include <framepipe/frame.hpp>

#include <opencv2/core/types.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
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

/// A motion stage's events by media time, for stages on other branches of its chain, which see the same moments
/// through other frames: event_clips with codec: copy on the packet branch asks which event the packet at a media time
/// belongs to. The motion stage `motion` publishes it on the chain's board as "motion/" + its name (ChainBoard).
/// Thread-safe: one writer (the motion stage, in media-time order), any number of readers.
class MotionTimeline {
public:
    /// When an event began: its first frame's media time and capture time (what its files are named by).
    struct Start {
        Duration media_time{};
        TimePoint capture_time{};
    };

    /// The motion stage: the frame at `media_time`, captured at `capture_time`, belongs to `event` (0 = none).
    void record(Duration media_time, std::uint64_t event, TimePoint capture_time = {}) {
        {
            const std::lock_guard lock(mutex_);
            if (changes_.empty() || changes_.back().event != event) {
                changes_.push_back({media_time, event, capture_time});
                if (changes_.size() > kKept) changes_.pop_front();
            }
            reached_ = media_time;
            started_ = true;
        }
        changed_.notify_all();
    }
    /// The motion stage says which chain it runs on (StageContext::source_index), when it opens. A reader on another
    /// chain (a camera's sub stream analysed, its main stream recorded) is not held up by it and may wait for it.
    void written_on(std::uint32_t chain) {
        const std::lock_guard lock(mutex_);
        writer_chain_ = chain;
    }
    /// Whether the motion stage runs on a chain other than `chain` (false while none has opened).
    [[nodiscard]] bool written_elsewhere(std::uint32_t chain) const {
        const std::lock_guard lock(mutex_);
        return writer_chain_ && *writer_chain_ != chain;
    }
    /// The motion stage closed: it records nothing more; every later moment is "no event".
    void close() {
        {
            const std::lock_guard lock(mutex_);
            closed_ = true;
        }
        changed_.notify_all();
    }
    /// Where `event` began, while it is remembered (the last few hundred changes).
    [[nodiscard]] std::optional<Start> start_of(std::uint64_t event) const {
        const std::lock_guard lock(mutex_);
        for (const Change& change : changes_)
            if (change.event == event) return Start{change.media_time, change.capture_time};
        return std::nullopt;
    }
    /// A motion stage has recorded something or closed: there is one under this name.
    [[nodiscard]] bool active() const {
        const std::lock_guard lock(mutex_);
        return started_ || closed_;
    }
    /// The event of the moment `media_time` (the last recorded frame at or before it), or nullopt while the motion
    /// stage has not reached it yet.
    [[nodiscard]] std::optional<std::uint64_t> event_at(Duration media_time) const {
        const std::lock_guard lock(mutex_);
        return event_at_locked(media_time);
    }
    /// Waits until event_at(media_time) has an answer, `stop` is requested or `limit` passes (real time: for close(),
    /// where the motion branch may still be working through the last frames). nullopt when it gave up.
    std::optional<std::uint64_t> wait_for(Duration media_time, std::stop_token stop, std::chrono::milliseconds limit) {
        std::unique_lock lock(mutex_);
        (void)changed_.wait_for(lock, stop, limit, [&] { return event_at_locked(media_time).has_value(); });
        return event_at_locked(media_time);
    }

private:
    static constexpr std::size_t kKept = 256;  // event changes remembered (readers lag by seconds, not hours)

    [[nodiscard]] std::optional<std::uint64_t> event_at_locked(Duration media_time) const {
        if (!closed_ && (!started_ || media_time > reached_)) return std::nullopt;
        std::uint64_t event = 0;
        for (const Change& change : changes_) {
            if (change.media_time > media_time) break;
            event = change.event;
        }
        if (closed_ && started_ && media_time > reached_) return 0;
        return event;
    }

    mutable std::mutex mutex_;
    std::condition_variable_any changed_;
    struct Change {
        Duration media_time;
        std::uint64_t event;
        TimePoint capture_time;
    };
    std::deque<Change> changes_;
    Duration reached_{};
    bool started_ = false;
    bool closed_ = false;
    std::optional<std::uint32_t> writer_chain_;
};

}  // namespace framepipe
