#pragma once
// SegmentWriter: what a recording file (a record segment, an event clip) is written with: the encoder, from decoded
// pictures, or the packet writer, from the source's compressed packets untouched (codec: copy). Counts are in frames
// (pictures or packets). Not thread-safe: one writer thread. Errors throw framepipe::Error naming the file; after one
// the file is closed with what reached it.

#include "../media/packet_writer.hpp"
#include "../media/video_decode.hpp"
#include "../media/video_encoder.hpp"
#include "stage_support.hpp"

#include <framepipe/frame.hpp>

#include <functional>
#include <memory>
#include <stop_token>
#include <string>

namespace framepipe::stages {

class SegmentWriter {
public:
    virtual ~SegmentWriter() = default;
    /// False when the frame could not start the file (a packet before the first keyframe): nothing written.
    virtual bool write(const Frame& frame, bool retime) = 0;
    virtual void finish(std::stop_token abort) = 0;
    /// Whether the frame can go on into this file (copy: the same stream parameters; a reconnect may change them).
    [[nodiscard]] virtual bool accepts(const Frame& frame) const { return (void)frame, true; }
    [[nodiscard]] virtual std::int64_t written() const noexcept = 0;
    [[nodiscard]] virtual std::int64_t durable() const noexcept = 0;
    [[nodiscard]] virtual bool disk_full() const noexcept = 0;
};

class EncodedSegment final : public SegmentWriter {
public:
    EncodedSegment(const std::string& path, const media::VideoEncoder::Options& options,
                   media::VideoEncoder::MakeRoom make_room)
        : encoder_(path, options) {
        if (make_room) encoder_.on_full_disk(std::move(make_room));
    }
    bool write(const Frame& frame, bool retime) override {
        require_pixels(frame, "record");
        if (retime)
            encoder_.write(frame.image);  // a frame rate of its own: frames retimed at that rate
        else
            encoder_.write(frame.image, frame.media_time);
        return true;
    }
    void finish(std::stop_token abort) override { encoder_.finish(std::move(abort)); }
    std::int64_t written() const noexcept override { return encoder_.frames_written(); }
    std::int64_t durable() const noexcept override { return encoder_.frames_durable(); }
    bool disk_full() const noexcept override { return encoder_.disk_full(); }

private:
    media::VideoEncoder encoder_;
};

class CopiedSegment final : public SegmentWriter {
public:
    CopiedSegment(const std::string& path, const media::PacketWriter::Options& options,
                  media::PacketWriter::MakeRoom make_room)
        : writer_(path, options) {
        if (make_room) writer_.on_full_disk(std::move(make_room));
    }
    bool write(const Frame& frame, bool) override {
        const auto* picture = frame.find<media::PictureAttachment>();
        if (picture == nullptr || !picture->stream) throw BadFrame("a packet without its stream's parameters");
        return writer_.write(frame, picture->stream);
    }
    void finish(std::stop_token) override { writer_.finish(); }
    bool accepts(const Frame& frame) const override {
        const auto* picture = frame.find<media::PictureAttachment>();
        return picture == nullptr || !picture->stream || writer_.accepts(*picture->stream);
    }
    std::int64_t written() const noexcept override { return writer_.packets_written(); }
    std::int64_t durable() const noexcept override { return writer_.packets_durable(); }
    bool disk_full() const noexcept override { return writer_.disk_full(); }

private:
    media::PacketWriter writer_;
};

}  // namespace framepipe::stages
