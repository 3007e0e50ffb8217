#pragma once
// PacketWriter: a video stream's compressed packets written to a file untouched (stream copy), as an NVR records a
// camera: no decoding, no encoding, no loss of quality, a few microseconds per packet. The audio packets riding on
// each video packet (AudioPackets, Packet::audio) are written before it into a second stream when the video stream's
// parameters name one (StreamParameters::audio). The container follows the file's extension (mkv, ts, mp4 written
// fragmented so a killed file stays playable).
//
// Timestamps: the packets' own, shifted so the file starts at 0 (the first packet's decoding time, audio or video). A
// file must start on a video keyframe: packets before the first keyframe are refused (write() returns false, their
// audio goes with them) and counted by the caller.
// Durability: with flush_interval > 0 the muxer and the file are flushed whenever that much media time was written
// since the last flush, so a SIGKILL loses at most flush_interval. A full disk (ENOSPC, EDQUOT) calls on_full_disk's
// callback and retries while it frees space.
//
// Not thread-safe: one writer thread. Errors throw framepipe::Error naming the file; after a failed write() or
// finish() the file is closed (what reached it stays) and the writer takes no more packets.

#include "packet.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>

#include <functional>
#include <stop_token>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace framepipe::media {

struct StreamParameters;

class PacketWriter {
public:
    struct Options {
        bool fragmented = false;   // MP4/MOV: self-contained fragments
        Duration flush_interval{};  // > 0: flush muxer and file every this much media time
        std::string format;         // the muxer (mpegts, hls, matroska ...); empty: from the path's extension
        std::map<std::string, std::string> muxer_options;  // the muxer's own options (hls_time ...)
        std::stop_token abort;  // writes to a pipe or URL give up when requested (MuxedFile::interrupt_on)
    };
    using MakeRoom = std::function<bool()>;

    /// Checks that the container exists (ConfigError otherwise); opens nothing yet. `path` may also be "-" (standard
    /// output) or a URL such as udp://127.0.0.1:5000 (both MPEG-TS unless options.format says otherwise).
    PacketWriter(std::string path, Options options);
    ~PacketWriter();
    PacketWriter(const PacketWriter&) = delete;
    PacketWriter& operator=(const PacketWriter&) = delete;

    /// Set before the first write.
    void on_full_disk(MakeRoom make_room);

    /// Writes one packet (Frame::encoded with its pts, dts and key flag) of `stream`; the first one opens the file
    /// with the stream's parameters. False, writing nothing, for a packet before the first keyframe. Packets without
    /// a decoding time (the first ones of a stream with B-frames, from Matroska) wait for the next packet that has one
    /// and get theirs one frame apart before it.
    bool write(const Frame& packet, const std::shared_ptr<const StreamParameters>& stream);
    bool write(const Packet& packet);
    /// Whether packets of `stream` can go on into this file: nothing written yet, or the same codec, size and
    /// extradata as the file's stream (a reconnect may bring other ones: then the caller starts a new file).
    [[nodiscard]] bool accepts(const StreamParameters& stream) const noexcept;
    /// Writes the trailer and closes the file. Idempotent; called by the destructor if not called before.
    void finish();

    /// Packets written, and those that reached the file (were handed to the OS): all of them after finish().
    [[nodiscard]] std::int64_t packets_written() const noexcept;
    [[nodiscard]] std::int64_t packets_durable() const noexcept;
    [[nodiscard]] bool disk_full() const noexcept;
    /// A write failed because nobody reads the pipe any more (the program reading stdout exited).
    [[nodiscard]] bool reader_gone() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe::media
