#pragma once
// SourceRunner: reads one source on a thread of its own (reads block: cameras, files, sockets) and pushes each frame
// into the edges of the stages the source feeds (the first decode stage, and any branch that takes the packets).
//
// File input: frames come from the pool with acquire() and are pushed with push_wait(), so a full pool or a full
// `block` edge stops the reading: backpressure reaches the source and nothing is lost.
// Live input: the source must never wait. Frames come from try_acquire(); if the pool were ever empty the frame is
// read into a spare buffer and counted as dropped at capture, and the first edge's drop policy keeps the newest.
// Stop (chain.stop): the source is read until it says what it delivered is complete (Source's stop contract), at most
// kMaxFramesAfterStop more frames; every frame read is pushed. Abort: a pending push gives up.
// Supervision (SourceInfo::supervised): when the source stops delivering (read() throws, or a live source ends), the
// signal is declared lost (logged), the source is closed and reopened with exponential backoff until it answers or the
// run stops, then declared back (logged). The time without signal and the reconnects are counted for the report.

#include "chain_state.hpp"
#include "fan_out.hpp"
#include "run_control.hpp"
#include "stage_runner.hpp"

#include <framepipe/source.hpp>

#include <optional>
#include <string>
#include <thread>

namespace framepipe::detail {

class SourceRunner {
public:
    SourceRunner(RunControl& run, ChainState& chain, Source& source, FanOut out);
    ~SourceRunner();

    /// Lets the reader carry frames into `first`, the only stage it feeds (StageRunner's Carrying). Not for live
    /// input: a camera's reader only reads. Called once, before start().
    void carry_into(StageRunner* first) noexcept { next_ = first; }
    /// Starts the reading thread. The source must be open.
    void start();
    /// Waits for the reading thread to end.
    void join();

private:
    enum class Read { frame, end, lost };
    void read_loop() noexcept;
    Read read_one(Frame& frame) noexcept;
    // Closes the source and reopens it with backoff; false when the run stopped before it came back. at_start: it never
    // opened (SourceUnavailable), which is not counted as a reconnect.
    bool recover(const std::string& reason, bool at_start) noexcept;
    // Live input: moves the live edge (ChainState::live_edge_ns); a stall counts as time without signal.
    void note_arrival(const Frame& frame) noexcept;

    RunControl& run_;
    ChainState& chain_;
    Source& source_;
    FanOut out_;
    StageRunner* next_ = nullptr;
    Frame spare_;  // live input only: where a frame goes when the pool is empty
    std::uint64_t next_sequence_ = 0;
    std::int64_t last_source_number_ = -1;  // the source's own number of the previous frame; -1 after (re)opening
    std::optional<TimePoint> last_timed_;   // capture time of the last frame profiling timed
    std::string last_failure_;
    bool anchored_ = false;  // live edge known since the last (re)open or stall
    std::int64_t live_edge_ = 0, last_arrival_ = 0, last_media_ = 0;
    bool source_closed_ = false;
    std::thread thread_;
};

}  // namespace framepipe::detail
