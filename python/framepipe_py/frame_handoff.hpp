#pragma once
// A Python loop as a pipeline's sink: `for frame in pipeline.frames():`.
//
// Each chain ends in a HandoffSink; all of them hand their frames to one FrameHandoff. A sink's frame counts as
// delivered only once the loop has taken it: the sink waits for that (a rendezvous; the edge in front of it is the
// buffer). So a slow loop holds up the loop's edge: behind a file, the source waits (backpressure); with a drop policy
// (a live source's default on the edge after it), frames are dropped there and counted. When the loop stops early
// (close()), every sink ends its input: the frame it was offering and those after are counted as ended or discarded,
// never as delivered.
//
// Thread-safety: sinks call offer() from the engine's threads; the loop calls take() and close() from one thread;
// finish() is called once, after the run returned. No method needs the GIL.

#include <framepipe/stage.hpp>

#include <opencv2/core/mat.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

namespace framepipe::python {

/// A delivered frame as the loop gets it: its own copy of the picture and where it came from.
struct DeliveredFrame {
    cv::Mat image;
    std::string source;      // the source's name
    std::uint32_t input = 0; // the source's index in the pipeline
    std::uint64_t index = 0; // Frame::sequence
    double time = 0;         // media time, seconds
    std::string label;       // an image's file name, when there is one
};

class FrameHandoff {
public:
    /// From a sink: queues the frame and waits until the loop has taken it. False when the loop stopped first or
    /// `abort` was requested (the frame was not taken).
    bool offer(DeliveredFrame frame, const std::stop_token& abort);
    enum class Taken { frame, timeout, finished };
    /// From the loop: the next frame, waiting at most `timeout`; finished when the run has ended and nothing is left.
    Taken take(DeliveredFrame& out, std::chrono::milliseconds timeout);
    /// The loop stops: frames waiting and any offered later are refused.
    void close();
    /// The run has ended: take() returns what is left, then finished.
    void finish();
    [[nodiscard]] bool closed() const;

private:
    mutable std::mutex mutex_;
    std::condition_variable_any changed_;
    std::deque<DeliveredFrame> frames_;  // at most one per sink
    std::uint64_t offered_ = 0;          // frames queued so far; the loop takes them in that order
    std::uint64_t taken_ = 0;
    bool closed_ = false;
    bool finished_ = false;
};

/// The sink at the end of a chain whose frames go to a Python loop. Serial, ordered, on a thread of its own (it
/// waits for the loop); copies the picture (the loop may keep it while the frame's buffers are reused).
class HandoffSink final : public Stage {
public:
    HandoffSink(std::string name, std::shared_ptr<FrameHandoff> handoff);
    void open(const StageContext& context) override;
    Outcome process(Frame& frame) override;

private:
    std::shared_ptr<FrameHandoff> handoff_;
    std::string source_;
    std::stop_token abort_;
};

}  // namespace framepipe::python
