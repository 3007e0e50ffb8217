#include "stream_status.hpp"

#include "../stages/template_text.hpp"

#include <nlohmann/json.hpp>

namespace framepipe::live {

namespace {
constexpr Duration kStaleRate = std::chrono::seconds(2);  // no frame for this long: 0 frames/s, whatever came before
}

const char* state_name(StreamState state) noexcept {
    switch (state) {
        case StreamState::waiting: return "waiting";
        case StreamState::live: return "live";
        case StreamState::lost: return "lost";
        case StreamState::reconnecting: return "reconnecting";
    }
    return "waiting";
}

const SourceReport* source_of(const RunReport* report, const StreamActivity& activity) {
    if (report == nullptr) return nullptr;
    const auto& sources = report->sources;
    if (activity.source_index() < sources.size() && sources[activity.source_index()].name == activity.source_name())
        return &sources[activity.source_index()];
    for (const SourceReport& source : sources)
        if (source.name == activity.source_name()) return &source;
    return nullptr;
}

StreamStatus stream_status(const StreamView& stream, const RunReport* report) {
    StreamStatus status;
    if (!stream.activity) {
        status.state = stream.has_picture ? StreamState::live : StreamState::waiting;
        return status;
    }
    status.seen = stream.activity->seen();
    status.source = source_of(report, *stream.activity);
    const std::optional<TimePoint> lost_at = status.source != nullptr ? status.source->signal_lost_at : std::nullopt;
    const bool frame_since_loss = lost_at && status.seen.last && *status.seen.last > *lost_at;
    if (lost_at && !frame_since_loss) {
        status.state = status.source->signal_lost ? StreamState::lost : StreamState::reconnecting;
        status.since = lost_at;
    } else if (!status.seen.last) {
        status.state = StreamState::waiting;
        status.since = stream.activity->opened();
    } else {
        status.state = StreamState::live;
    }
    return status;
}

std::string status_json(const std::vector<StreamView>& streams, const RunReport* report) {
    using nlohmann::json;
    const auto seconds_or_null = [](std::optional<Duration> d) { return d ? json(in_seconds(*d)) : json(nullptr); };
    json list = json::array();
    for (const StreamView& stream : streams) {
        const StreamStatus status = stream_status(stream, report);
        json s;
        s["name"] = stream.name;
        s["state"] = state_name(status.state);
        s["since"] = nullptr;
        s["for_s"] = nullptr;
        s["last_frame_age_s"] = nullptr;
        s["fps"] = 0.0;
        if (stream.activity) {
            const Clock& clock = stream.activity->clock();
            const TimePoint now = clock.now();
            if (status.since) {
                s["since"] = stages::iso_clock(clock.wall_time(*status.since));
                s["for_s"] = in_seconds(now - *status.since);
            }
            if (status.seen.last) {
                s["last_frame_age_s"] = seconds_or_null(now - *status.seen.last);
                if (status.state == StreamState::live && now - *status.seen.last < kStaleRate)
                    s["fps"] = status.seen.fps;
            }
        }
        const SourceReport* source = status.source;
        s["latency_p50_ms"] = source != nullptr && source->end_to_end.count > 0 ? json(in_ms(source->end_to_end.p50))
                                                                                  : json(nullptr);
        s["dropped"] = source != nullptr ? source->dropped() : 0;    // lost: overflow, maximum age, stop, error
        s["filtered"] = source != nullptr ? source->filtered() : 0;  // chosen: decimation, selection
        s["rejected"] = source != nullptr ? source->rejected() : 0;  // bad data
        s["captured"] = source != nullptr ? source->captured : 0;
        s["delivered"] = source != nullptr ? source->delivered : 0;
        s["reconnects"] = source != nullptr ? source->reconnects : 0;
        s["time_lost_s"] = source != nullptr ? in_seconds(source->time_lost) : 0.0;
        list.push_back(std::move(s));
    }
    return json{{"streams", std::move(list)}}.dump(2) + "\n";
}

}  // namespace framepipe::live
