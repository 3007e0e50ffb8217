#pragma once
// Small stages and sources for engine tests. They do real work on real (small) frames; what they record is what the
// tests assert on.

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>
#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace framepipe::test {

/// Counts lifecycle calls, shared by a test and the stages it builds.
struct Lifecycle {
    std::atomic<int> opened{0};
    std::atomic<int> closed{0};
};

/// A file-like source that reads frame k only once `delivered` (a count the test's sink keeps, or a gate the test
/// opens) reaches k, so one frame is in the chain at a time. Remembers the thread that reads it (the chain's reader).
/// `before_each` runs just before each frame is handed over (to move a ManualClock between captures).
class GatedSource final : public Source {
public:
    GatedSource(std::int64_t frames, const std::atomic<std::int64_t>& delivered, std::function<void()> before_each = {})
        : frames_(frames), delivered_(delivered), before_each_(std::move(before_each)) {}
    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = "gated";
        info.fps = 1000;
        info.size = {16, 8};
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        reader = std::this_thread::get_id();
        if (produced_ >= frames_) return ReadResult::end_of_stream;
        while (delivered_.load() < produced_) {
            if (stop.stop_requested()) return ReadResult::end_of_stream;
            std::this_thread::yield();
        }
        if (before_each_) before_each_();
        frame.prepare_image({16, 8}, CV_8UC3);
        ++produced_;
        return ReadResult::frame;
    }
    std::thread::id reader;

private:
    std::int64_t frames_;
    const std::atomic<std::int64_t>& delivered_;
    std::function<void()> before_each_;
    std::int64_t produced_ = 0;
};

/// A file-like (or live) source of tiny frames that records the newest sequence number it produced.
class CountingSource final : public Source {
public:
    CountingSource(std::int64_t frames, bool live = false, cv::Size size = {16, 8}, std::string name = "counting")
        : frames_(frames), live_(live), size_(size), name_(std::move(name)) {}

    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = name_;
        info.live = live_;
        info.fps = 1000;
        info.size = size_;
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        if (stop.stop_requested() || (frames_ > 0 && produced_ >= frames_)) return ReadResult::end_of_stream;
        frame.prepare_image(size_, CV_8UC3);
        frame.image.at<cv::Vec3b>(0, 0) = cv::Vec3b(static_cast<uchar>(produced_ & 0xff), 0, 0);
        frame.media_time = std::chrono::milliseconds(produced_);
        newest.store(produced_);
        ++produced_;
        return ReadResult::frame;
    }
    void close() override { closed.fetch_add(1); }

    std::atomic<std::int64_t> newest{-1};
    std::atomic<int> closed{0};

private:
    std::int64_t frames_;
    bool live_;
    cv::Size size_;
    std::string name_;
    std::int64_t produced_ = 0;
};

/// Passes frames on after an optional random busy-wait of up to `max_spin` (a stand-in for real work).
class SpinStage final : public Stage {
public:
    SpinStage(std::string name, bool parallel, std::chrono::microseconds max_spin = {}, Lifecycle* lifecycle = nullptr,
              std::size_t max_concurrency = 0)
        : Stage({.name = std::move(name), .parallel = parallel, .max_concurrency = max_concurrency}),
          max_spin_(max_spin),
          lifecycle_(lifecycle) {}

    void open(const StageContext&) override {
        if (lifecycle_ != nullptr) lifecycle_->opened.fetch_add(1);
    }
    Outcome process(Frame& frame) override {
        if (max_spin_.count() > 0) {
            thread_local std::minstd_rand random(std::random_device{}());
            const auto spin = std::chrono::microseconds(random() % static_cast<unsigned>(max_spin_.count() + 1));
            const auto until = std::chrono::steady_clock::now() + spin;
            while (std::chrono::steady_clock::now() < until) {
            }
        }
        frame.image.at<cv::Vec3b>(0, 1)[1] += 1;  // touch the pixels
        return Outcome::pass;
    }
    void close() override {
        if (lifecycle_ != nullptr) lifecycle_->closed.fetch_add(1);
    }

private:
    std::chrono::microseconds max_spin_;
    Lifecycle* lifecycle_;
};

/// Advances the injected clock by `cost` inside process(): a stage whose service time is known exactly. Serial, so the
/// clock moves by exactly `cost` per frame.
class TimedStage final : public Stage {
public:
    TimedStage(std::string name, ManualClock& clock, Duration cost)
        : Stage({.name = std::move(name)}), clock_(clock), cost_(cost) {}
    Outcome process(Frame&) override {
        clock_.advance(cost_);
        return Outcome::pass;
    }

private:
    ManualClock& clock_;
    Duration cost_;
};

/// Throws from process() on one frame number.
class ThrowingStage final : public Stage {
public:
    ThrowingStage(std::string name, std::uint64_t throw_at, Lifecycle* lifecycle)
        : Stage({.name = std::move(name)}), throw_at_(throw_at), lifecycle_(lifecycle) {}
    void open(const StageContext&) override { lifecycle_->opened.fetch_add(1); }
    Outcome process(Frame& frame) override {
        if (frame.sequence == throw_at_) throw std::runtime_error("the stage could not cope");
        return Outcome::pass;
    }
    void close() override { lifecycle_->closed.fetch_add(1); }

private:
    std::uint64_t throw_at_;
    Lifecycle* lifecycle_;
};

/// The chain's sink: records the sequence numbers it receives, in order. Optionally stalls every frame until
/// released (a stand-in for a disk that stopped) or sleeps per frame (a slow writer).
class RecordingSink final : public Stage {
public:
    struct Options {
        std::string name = "sink";
        bool ordered = true;
        bool stall_until_released = false;
        std::chrono::microseconds sleep{};
        Lifecycle* lifecycle = nullptr;
    };
    explicit RecordingSink(Options options)
        : Stage({.name = options.name,
                 .needs_ordered_input = options.ordered,
                 .blocking_io = options.stall_until_released || options.sleep.count() > 0,
                 .read_only = true}),
          options_(options) {}

    void open(const StageContext&) override {
        if (options_.lifecycle != nullptr) options_.lifecycle->opened.fetch_add(1);
    }
    Outcome process(Frame& frame) override {
        if (options_.stall_until_released) gate_.acquire(), gate_.release();
        if (options_.sleep.count() > 0) std::this_thread::sleep_for(options_.sleep);
        std::lock_guard lock(mutex_);
        sequences_.push_back(frame.sequence);
        count_.fetch_add(1);
        return Outcome::pass;
    }
    void close() override {
        if (options_.lifecycle != nullptr) options_.lifecycle->closed.fetch_add(1);
    }

    void release() { gate_.release(); }
    [[nodiscard]] std::uint64_t count() const { return count_.load(); }
    [[nodiscard]] std::vector<std::uint64_t> sequences() const {
        std::lock_guard lock(mutex_);
        return sequences_;
    }

private:
    Options options_;
    std::binary_semaphore gate_{0};
    mutable std::mutex mutex_;
    std::vector<std::uint64_t> sequences_;
    std::atomic<std::uint64_t> count_{0};
};

/// Serial, passes every frame; releases a stalled RecordingSink when it starts its `nth` frame. Put it in front of a
/// stalled sink to make drops on the sink's edge certain: by the time the sink may go on, `nth - 1` frames were pushed
/// at that edge while the sink held one, whatever the scheduling.
class ReleaseAfter final : public Stage {
public:
    ReleaseAfter(std::string name, int nth, RecordingSink& sink)
        : Stage({.name = std::move(name), .read_only = true}), nth_(nth), sink_(sink) {}
    Outcome process(Frame&) override {
        if (++started_ == nth_) sink_.release();
        return Outcome::pass;
    }

private:
    int nth_;
    RecordingSink& sink_;
    int started_ = 0;
};

}  // namespace framepipe::test
