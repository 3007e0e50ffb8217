#include "source_runner.hpp"

#include "lineage_log.hpp"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <string>

namespace framepipe::detail {

SourceRunner::SourceRunner(RunControl& run, ChainState& chain, Source& source, FanOut out)
    : run_(run), chain_(chain), source_(source), out_(std::move(out)) {}

SourceRunner::~SourceRunner() { join(); }

void SourceRunner::start() {
    thread_ = std::thread([this] { read_loop(); });
    pthread_setname_np(thread_.native_handle(), ("fp-src" + std::to_string(chain_.index)).c_str());
}

void SourceRunner::join() {
    if (thread_.joinable()) thread_.join();
}

SourceRunner::Read SourceRunner::read_one(Frame& frame) noexcept {
    frame.source = chain_.index;
    frame.sequence = next_sequence_;
    std::string failure;
    try {
        if (source_.read(frame, chain_.stop.get_token()) == ReadResult::frame) {
            ++next_sequence_;
            frame.capture_time = run_.clock().now();
            if (frame.source_number >= 0) {  // the source numbers its frames: a gap is frames it never delivered
                if (last_source_number_ >= 0 && frame.source_number > last_source_number_ + 1)
                    chain_.counts.add<&SourceCounts::skipped_by_source>(
                        static_cast<std::uint64_t>(frame.source_number - last_source_number_ - 1));
                last_source_number_ = frame.source_number;
            }
            if (next_sequence_ == 1) chain_.first_capture_ns.store(frame.capture_time.time_since_epoch().count());
            if (chain_.info.live) note_arrival(frame);
            chain_.counts.add<&SourceCounts::captured>();
            return Read::frame;
        }
        if (!chain_.info.supervised || !chain_.info.live || chain_.stop.stop_requested()) return Read::end;
        failure = "the source ended";
    } catch (const std::exception& error) {
        failure = error.what();
    } catch (...) {
        failure = "unknown exception";
    }
    if (chain_.info.supervised && !chain_.stop.stop_requested() && !run_.aborting()) {
        last_failure_ = failure;
        return Read::lost;
    }
    if (!chain_.stop.stop_requested() && !run_.aborting())
        run_.fail({chain_.info.name, chain_.info.name, next_sequence_, failure});
    return Read::end;
}

void SourceRunner::note_arrival(const Frame& frame) noexcept {
    constexpr std::int64_t kStall = 1'000'000'000;  // 1 s more between arrivals than between their media times
    const std::int64_t arrival = frame.capture_time.time_since_epoch().count();
    const std::int64_t media = frame.media_time.count();
    const std::int64_t offset = arrival - media;
    if (!anchored_) {
        live_edge_ = offset;
        anchored_ = true;
    } else if (const std::int64_t stall = (arrival - last_arrival_) - (media - last_media_); stall > kStall) {
        chain_.counts.add<&SourceCounts::time_lost>(Duration{stall});
        chain_.counts.add<&SourceCounts::stalls>();
        spdlog::warn("{}: nothing arrived for {:.1f} s (the input stalled); counted as time without signal",
                     chain_.info.name, static_cast<double>(stall) / 1e9);
        live_edge_ = offset;  // what came before the stall says nothing about now
    } else {
        live_edge_ = std::min(live_edge_, offset);
    }
    last_arrival_ = arrival;
    last_media_ = media;
    chain_.live_edge_ns.store(live_edge_, std::memory_order_relaxed);
}

bool SourceRunner::recover(const std::string& reason, bool at_start) noexcept {
    const Clock& clock = run_.clock();  // the backoff and the time without signal are on the run's clock
    const TimePoint lost_at = clock.now();
    chain_.signal_lost_at_ns.store(lost_at.time_since_epoch().count());
    chain_.signal_lost.store(true);
    if (at_start) {
        spdlog::warn("{}: not reachable ({}); the other inputs run while this one is retried", chain_.info.name, reason);
    } else {
        chain_.counts.add<&SourceCounts::reconnects>();
        spdlog::warn("{}: signal lost after frame {} ({}); reconnecting", chain_.info.name, next_sequence_, reason);
    }
    try {
        source_.close();
    } catch (...) {
    }
    const std::stop_token stop = chain_.stop.get_token();
    Duration backoff = chain_.info.backoff_initial;
    for (int attempt = 1; !stop.stop_requested() && !run_.aborting(); ++attempt) {
        if (!clock.sleep_until(clock.now() + backoff, stop) || run_.aborting()) break;
        try {
            (void)source_.open(stop);
            last_source_number_ = -1;  // a reopened source numbers afresh
            anchored_ = false;         // and its live edge is measured afresh
            ++next_sequence_;  // a gap in the sequence: what follows does not continue what came before (an in-order
                               // decoder then waits for a keyframe instead of decoding against stale references)
            const Duration lost_for = clock.now() - lost_at;
            chain_.counts.add<&SourceCounts::time_lost>(lost_for);
            chain_.signal_lost.store(false);
            spdlog::info("{}: signal back after {:.1f} s ({} attempt{})", chain_.info.name,
                         in_seconds(lost_for), attempt, attempt == 1 ? "" : "s");
            return true;
        } catch (const std::exception& error) {
            spdlog::debug("{}: reconnect attempt {} failed: {}", chain_.info.name, attempt, error.what());
        }
        backoff = std::min(backoff * 2, chain_.info.backoff_max);
    }
    chain_.counts.add<&SourceCounts::time_lost>(clock.now() - lost_at);
    source_closed_ = true;  // it stayed closed: close() must not run again
    return false;
}

void SourceRunner::read_loop() noexcept {
    const std::stop_token stop = chain_.stop.get_token();
    const bool live = chain_.info.live;
    bool stop_reading = false;
    int after_stop = 0;
    CarriedRun carried(next_);  // the stages this thread keeps claimed between frames (StageRunner: Held claims)
    if (!chain_.unavailable.empty() && !recover(chain_.unavailable, /*at_start=*/true)) stop_reading = true;
    // After a stop the source still gets to complete what it delivered (Source's stop contract), up to a bound.
    while (!stop_reading && !run_.aborting() && !(stop.stop_requested() && after_stop++ >= kMaxFramesAfterStop)) {
        FrameRef frame = chain_.pool->try_acquire();
        if (!frame && !live) {
            carried.release_all();
            frame = chain_.pool->acquire(run_.abort_token());
            if (!frame) break;  // aborted while waiting for a free frame
        }
        Frame& target = frame ? *frame : spare_;
        const Read result = read_one(target);
        if (result == Read::lost) {
            carried.release_all();
            if (!recover(last_failure_, /*at_start=*/false)) break;
            continue;
        }
        if (result == Read::end) break;
        if (!frame) {  // live, and no free frame: read and count it, so the camera does not back up
            chain_.counts.add<&SourceCounts::dropped_at_capture>();
            if (LineageLog* lineage = run_.lineage()) lineage->add(chain_.index, spare_, nullptr);
            continue;
        }
        frame.lineage().kind = FrameLineage::Kind::captured;  // from here on it gets a lineage record
        const TimePoint captured = frame->capture_time;
        frame->timed = run_.profiling() && (run_.profile_spacing() <= Duration::zero() || !last_timed_ ||
                                            captured - *last_timed_ >= run_.profile_spacing());
        if (frame->timed) last_timed_ = captured;
        if (next_ != nullptr) {
            frame->spans[out_.targets().front().position].queued = captured;
            if (next_->take_carried(frame, /*reserved=*/false, /*starts_when_queued=*/true, &carried, /*carried_ns=*/0))
                continue;
            carried.release_all();
        }
        out_.push_wait(std::move(frame), captured, run_.clock(), run_.abort_token());
    }
    carried.release_all();
    try {
        chain_.ended_early = source_.ended_early();
        if (!chain_.ended_early.empty())
            spdlog::warn("{}: the input ended early after {} frame(s): {}", chain_.info.name, next_sequence_,
                         chain_.ended_early);
    } catch (...) {
    }
    chain_.ended.store(true);
    if (!source_closed_) {
        try {
            source_.close();
        } catch (const std::exception& error) {
            run_.fail({chain_.info.name, chain_.info.name, std::nullopt, std::string("close: ") + error.what()});
        } catch (...) {
            run_.fail({chain_.info.name, chain_.info.name, std::nullopt, "close: unknown exception"});
        }
    }
    out_.close();
}

}  // namespace framepipe::detail
