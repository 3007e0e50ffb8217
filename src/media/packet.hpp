#pragma once
// Compressed packets kept apart from the frames they came on: a clip's pre-roll, packets waiting for a decision, and
// the audio that rides on a video packet.

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace framepipe::media {

struct StreamParameters;

/// One compressed packet with its own copy of the bytes. Timestamps are in its stream's time base
/// (StreamParameters::time_base), on the source's one timeline (a reconnect continues it).
struct Packet {
    std::vector<std::uint8_t> bytes;
    std::int64_t pts = 0, dts = 0;
    std::int64_t duration = 0;  // in the stream's time base; 0 when unknown
    bool key = false;
    Duration media_time{};
    TimePoint capture_time{};
    std::shared_ptr<const StreamParameters> stream;
    /// For a video packet: the source's audio packets read since the video packet before it, in file order.
    std::vector<Packet> audio;
};

/// Rides on a video packet frame (Frame::attach): the source's audio packets read since the video packet before it, in
/// file order, each naming its stream (the video stream's StreamParameters::audio). A video source attaches them only
/// when a branch takes its packets (Source::keep_audio); writers of packets (record, event_clips, stream_out with
/// codec: copy) write them beside the video. They go wherever their video packet goes: dropped with it, written into
/// the same segment.
class AudioPackets final : public FrameAttachment {
public:
    void reset() noexcept override { packets.clear(); }
    void copy_to(Frame& target) const override { target.attach<AudioPackets>().packets = packets; }
    std::vector<Packet> packets;
};

/// The audio packets riding on `frame` (empty when there are none).
inline const std::vector<Packet>& audio_of(const Frame& frame) {
    static const std::vector<Packet> none;
    const auto* audio = frame.find<AudioPackets>();
    return audio != nullptr ? audio->packets : none;
}

}  // namespace framepipe::media
