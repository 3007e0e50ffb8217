#pragma once
// LineageLog: each captured frame's way through its chain (PipelineOptions::frames_path), streamed to a file while the
// run goes on: its source, sequence number, capture time, and per stage it reached when it entered the stage's edge,
// started and finished there, and its fate (FrameFate); then how it ended. A record is made when the frame's last
// reference goes (FramePool::record_lineage), from the spans the profile stamps anyway (StageSpan) and the fates the
// engine notes, so the frame path adds one copy of the frame's spans per frame and nothing per stage.
//
// Bounded and never blocking: add() copies the record into a ring of `capacity` slots allocated up front and returns;
// a writer thread of its own drains the ring into the file (JSON Lines, or CSV when the path ends in .csv). A record
// that finds the ring full is not kept and counted (finish() returns the count; the pipeline warns about it). Times
// are milliseconds since the run started (3 decimals: the pipeline clock's microseconds).
//
// Thread-safety: add() may be called from any threads at once (a lock-free multi-producer ring); the constructor,
// start() and finish() from the thread driving the run.

#include "frame_fate.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace framepipe::detail {

class LineageLog {
public:
    /// What a record needs to name a chain's stages and tell "delivered" (passed by the main branch's last stage).
    struct ChainNames {
        std::string source;
        std::vector<std::string> stages;
        std::size_t main_sink = 0;
    };
    struct Totals {
        std::uint64_t written = 0;
        std::uint64_t not_kept = 0;  // found the ring full, or came after finish()
        std::string error;           // why writing the file failed; empty when it did not
    };

    /// Creates (or empties) the file now, so an unwritable path is refused before any input is read: throws
    /// ConfigError naming the path and the reason. `capacity`: records the ring holds (about 1 KB each), at least 2.
    LineageLog(std::string path, std::size_t capacity);
    ~LineageLog();
    LineageLog(const LineageLog&) = delete;
    LineageLog& operator=(const LineageLog&) = delete;

    /// Before the first add(): the chains' names (indexed by Frame::source) and time zero; starts the writer.
    void start(std::vector<ChainNames> chains, TimePoint origin);
    /// A frame done with: `lineage` its notes, or nullptr for a frame read but never admitted (no free frame).
    /// Never blocks, never allocates.
    void add(std::uint32_t source, const Frame& frame, const FrameLineage* lineage) noexcept;
    /// Writes what is left, stops the writer and closes the file. Idempotent.
    Totals finish() noexcept;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    struct Record {
        std::uint32_t source = 0;
        FrameLineage::Kind kind = FrameLineage::Kind::unused;  // unused: read but never admitted
        std::uint64_t sequence = 0;
        TimePoint capture{};
        Duration media_time{};
        std::array<StageSpan, kMaxStagesPerLane> spans{};
        std::array<FrameFate, kMaxStagesPerLane> fates{};
    };
    struct Cell {
        std::atomic<std::size_t> turn{0};  // == position: free for that push; == position + 1: holds its record
        Record record;
    };

    void write_loop() noexcept;
    bool drain(std::string& out);  // formats every record in the ring; true when there was any
    void format(const Record& record, std::string& out) const;
    void flush(std::string& out) noexcept;

    const std::string path_;
    const bool csv_;
    std::FILE* file_ = nullptr;
    std::vector<ChainNames> chains_;
    TimePoint origin_{};

    std::unique_ptr<Cell[]> cells_;
    std::size_t mask_ = 0;
    std::atomic<std::size_t> tail_{0};  // next position to push
    std::size_t head_ = 0;              // next position to pop (the writer's)
    std::atomic<std::uint64_t> not_kept_{0};
    std::atomic<bool> accepting_{false};

    std::uint64_t written_ = 0;
    std::string error_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;  // under mutex_
    std::thread writer_;
};

}  // namespace framepipe::detail
