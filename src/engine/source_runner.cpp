#include "source_runner.hpp"

#include <pthread.h>

#include <exception>

namespace framepipe::detail {

SourceRunner::SourceRunner(RunControl& run, ChainState& chain, Source& source, Edge& out)
    : run_(run), chain_(chain), source_(source), out_(out) {}

SourceRunner::~SourceRunner() { join(); }

void SourceRunner::start() {
    thread_ = std::thread([this] { read_loop(); });
    pthread_setname_np(thread_.native_handle(), ("fp-src" + std::to_string(chain_.index)).c_str());
}

void SourceRunner::join() {
    if (thread_.joinable()) thread_.join();
}

bool SourceRunner::read_one(Frame& frame) noexcept {
    frame.source = chain_.index;
    frame.sequence = next_sequence_;
    try {
        if (source_.read(frame, chain_.stop.get_token()) == ReadResult::end_of_stream) return false;
    } catch (const std::exception& error) {
        run_.fail({chain_.info.name, chain_.info.name, next_sequence_, error.what()});
        return false;
    } catch (...) {
        run_.fail({chain_.info.name, chain_.info.name, next_sequence_, "unknown exception"});
        return false;
    }
    ++next_sequence_;
    frame.capture_time = run_.clock().now();
    if (next_sequence_ == 1) {
        chain_.first_media_ns.store(frame.media_time.count());
        chain_.first_capture_ns.store(frame.capture_time.time_since_epoch().count());
    }
    chain_.captured.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void SourceRunner::read_loop() noexcept {
    const std::stop_token stop = chain_.stop.get_token();
    const bool live = chain_.info.live;
    while (!stop.stop_requested() && !run_.aborting()) {
        FrameRef frame = live ? chain_.pool->try_acquire() : chain_.pool->acquire(stop);
        if (!frame) {
            if (!live) break;  // stopped while waiting for a free frame
            if (!read_one(spare_)) break;
            chain_.dropped_at_capture.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (!read_one(*frame)) break;
        frame->spans[0].queued = frame->capture_time;
        (void)out_.push_wait(std::move(frame), run_.clock(), run_.abort_token());
    }
    try {
        source_.close();
    } catch (const std::exception& error) {
        run_.fail({chain_.info.name, chain_.info.name, std::nullopt, std::string("close: ") + error.what()});
    } catch (...) {
        run_.fail({chain_.info.name, chain_.info.name, std::nullopt, "close: unknown exception"});
    }
    out_.close();
}

}  // namespace framepipe::detail
