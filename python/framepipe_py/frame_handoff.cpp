#include "frame_handoff.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

namespace framepipe::python {

bool FrameHandoff::offer(DeliveredFrame frame, const std::stop_token& abort) {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    frames_.push_back(std::move(frame));
    const std::uint64_t mine = offered_++;
    changed_.notify_all();
    changed_.wait(lock, abort, [&] { return closed_ || taken_ > mine; });
    return taken_ > mine;
}

FrameHandoff::Taken FrameHandoff::take(DeliveredFrame& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !frames_.empty() || finished_; })) return Taken::timeout;
    if (frames_.empty()) return Taken::finished;
    out = std::move(frames_.front());
    frames_.pop_front();
    ++taken_;
    changed_.notify_all();
    return Taken::frame;
}

void FrameHandoff::close() {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    frames_.clear();
    changed_.notify_all();
}

void FrameHandoff::finish() {
    const std::lock_guard lock(mutex_);
    finished_ = true;
    changed_.notify_all();
}

bool FrameHandoff::closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
}

HandoffSink::HandoffSink(std::string name, std::shared_ptr<FrameHandoff> handoff)
    : Stage({.name = std::move(name), .needs_ordered_input = true, .blocking_io = true, .read_only = true}),
      handoff_(std::move(handoff)) {}

void HandoffSink::open(const StageContext& context) {
    source_ = context.source.name;
    abort_ = context.abort;
}

Outcome HandoffSink::process(Frame& frame) {
    if (handoff_->closed()) return Outcome::end_of_stream;
    if (frame.format != PixelFormat::bgr && frame.format != PixelFormat::gray)
        throw Error(fmt::format("stage '{}' hands pictures to Python; end the branch after the source's decoding",
                                traits().name));
    DeliveredFrame delivered{.image = frame.image.clone(),
                             .source = source_,
                             .input = frame.source,
                             .index = frame.sequence,
                             .time = std::chrono::duration<double>(frame.media_time).count(),
                             .label = frame.label};
    return handoff_->offer(std::move(delivered), abort_) ? Outcome::pass : Outcome::end_of_stream;
}

}  // namespace framepipe::python
