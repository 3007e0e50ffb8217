#pragma once
// ChainState: the per-source state the runners of one chain share: its frame pool, its stop switch and the source-level
// counters (captured, delivered, end-to-end latency). Thread-safe: counters are atomics; the rest is set up before the
// run and only read while it runs.

#include "bounded_queue.hpp"
#include "frame_pool.hpp"
#include "latency_histogram.hpp"
#include "live_counters.hpp"

#include <framepipe/report.hpp>
#include <framepipe/source.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>

namespace framepipe::detail {

using Edge = BoundedQueue<FrameRef>;

struct ChainState {
    std::uint32_t index = 0;
    SourceInfo info;
    std::string unavailable;  // why a supervised source could not open at the start (its reader keeps trying)
    std::unique_ptr<FramePool> pool;
    std::stop_source stop;  // stop reading new frames (request_stop, or a stage asked for end of stream)

    LiveCounters<SourceCounts> counts;  // active_time is derived from the two times below
    std::atomic<std::int64_t> first_capture_ns{0};
    std::atomic<std::int64_t> last_delivery_ns{0};
    // Live input: the live edge, as the smallest (arrival - media time) seen since the input last stalled or
    // reconnected (SourceRunner keeps it), and how far delivered frames lag it: (delivery - media time) - live edge,
    // the delivery latency plus any backlog before capture. Re-anchored after an outage, so it describes now.
    std::atomic<std::int64_t> live_edge_ns{0};
    std::atomic<std::int64_t> lag_ns{0};
    std::atomic<std::int64_t> lag_max_ns{0};
    // Supervised sources: whether the signal is lost right now. (Times it was lost and the time without it, also a
    // live input that stalled for longer than its media time explains, are in `counts`.)
    std::atomic<bool> signal_lost{false};
    // When the signal was last lost (run's clock, ns since its epoch); kNeverLost until it is.
    static constexpr std::int64_t kNeverLost = INT64_MIN;
    std::atomic<std::int64_t> signal_lost_at_ns{kNeverLost};
    // Why the source ended early (Source::ended_early), written by the reading thread before it sets `ended`.
    std::string ended_early;
    std::atomic<bool> ended{false};
    std::atomic<std::size_t> sinks_left{0};  // ends of branches not closed yet; the chain is finished at 0
    LatencyHistogram end_to_end;
};

}  // namespace framepipe::detail
