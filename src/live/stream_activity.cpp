#include "stream_activity.hpp"

namespace framepipe::live {

void StreamActivity::frame_seen(TimePoint capture, cv::Size size) noexcept {
    constexpr Duration kWindow = std::chrono::seconds(1);
    constexpr Duration kGap = std::chrono::seconds(5);  // no frame for this long (a loss): the rate starts afresh
    const TimePoint previous{Duration{last_ns_.load(std::memory_order_relaxed)}};
    if (window_frames_ == 0 || capture < window_start_ || capture - previous > kGap) {
        if (window_frames_ != 0) fps_.store(0, std::memory_order_relaxed);
        window_start_ = capture;
        window_frames_ = 0;
    }
    ++window_frames_;
    if (const Duration span = capture - window_start_; span >= kWindow) {  // frames - 1 intervals in span
        fps_.store(static_cast<double>(window_frames_ - 1) / in_seconds(span), std::memory_order_relaxed);
        window_start_ = capture;
        window_frames_ = 1;
    }
    width_.store(size.width, std::memory_order_relaxed);
    height_.store(size.height, std::memory_order_relaxed);
    last_ns_.store(capture.time_since_epoch().count(), std::memory_order_relaxed);
    frames_.fetch_add(1, std::memory_order_release);
}

StreamActivity::Seen StreamActivity::seen() const noexcept {
    Seen seen;
    seen.frames = frames_.load(std::memory_order_acquire);
    if (seen.frames > 0) seen.last = TimePoint{Duration{last_ns_.load(std::memory_order_relaxed)}};
    seen.fps = fps_.load(std::memory_order_relaxed);
    seen.size = {width_.load(std::memory_order_relaxed), height_.load(std::memory_order_relaxed)};
    return seen;
}

}  // namespace framepipe::live
