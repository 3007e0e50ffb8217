#pragma once
// The status of each live-view stream, as the page shows it beside the picture and /status.json serves it: its state,
// frames/s, end-to-end latency and drops, from the pipeline's latest report (LiveReport) and what the stream's stage
// saw (StreamActivity). status_json() is the one place that turns them into JSON.
//
// States:
//   waiting       no frame has reached the stream yet (since: when it opened)
//   live          frames are arriving
//   lost          the source's signal is lost and the engine is reconnecting with backoff (since: when it was lost)
//   reconnecting  the source is open again after a loss, but no frame has reached the stream since (a camera that
//                 answered and has not sent its first picture yet; since: when it was lost)
// A frame captured after the loss began makes the stream live whatever an older report says.
//
// Pure functions of their arguments; thread-safe as such.

#include "stream_activity.hpp"

#include <framepipe/report.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace framepipe::live {

enum class StreamState { waiting, live, lost, reconnecting };
[[nodiscard]] const char* state_name(StreamState state) noexcept;

/// One stream as the server knows it: its name on the page and what its stage saw (null for a stream no stage feeds,
/// whose state is then live once it has a picture, else waiting, and which has no figures).
struct StreamView {
    std::string name;
    std::shared_ptr<const StreamActivity> activity;
    bool has_picture = false;
};

struct StreamStatus {
    StreamState state = StreamState::waiting;
    std::optional<TimePoint> since;  // waiting: when the stream opened; lost, reconnecting: when the signal was lost
    StreamActivity::Seen seen;
    const SourceReport* source = nullptr;  // in the report given; null when there is none
};

/// The source feeding `activity` in `report`: by index, when that source has the same name, else by name. Null when
/// there is no report or no such source.
[[nodiscard]] const SourceReport* source_of(const RunReport* report, const StreamActivity& activity);

/// The stream's state and where its figures come from (see the states above).
[[nodiscard]] StreamStatus stream_status(const StreamView& stream, const RunReport* report);

/// {"streams": [{"name", "state", "since" (ISO 8601 local time, or null), "for_s" (seconds since then), "fps",
/// "latency_p50_ms" (capture to the end of the chain; null before any frame got through), "dropped"
/// (SourceReport::dropped()), "captured", "delivered", "reconnects", "time_lost_s", "last_frame_age_s" (null before
/// the first)}, ...]}: the page's status, stream by stream in page order.
[[nodiscard]] std::string status_json(const std::vector<StreamView>& streams, const RunReport* report);

}  // namespace framepipe::live
