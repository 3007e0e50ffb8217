#pragma once
// MuxedFile: a libavformat muxer writing one file through a plain descriptor, so a full disk can be answered (make
// room, retry the write) and a flush really hands the bytes to the OS. Shared by the encoder (VideoEncoder) and the
// stream copier (PacketWriter): they add their streams to container(), then open(), write(), flush() and finish().
//
// Where it writes: a file; "-", standard output (dup'ed, so closing it leaves stdout open); a URL with a scheme
// (udp://127.0.0.1:5000) through libavformat's own I/O; or nothing of its own for muxers that open their files
// themselves (HLS writes its playlist and segments).
//
// Failure: every method throws framepipe::Error naming the file and the cause (the errno of a failed write when there
// was one); after a throw the muxer and the file are closed (what reached the file stays). Not thread-safe.

#include "av_support.hpp"

#include <cerrno>
#include <functional>
#include <stop_token>
#include <map>
#include <string>

namespace framepipe::media {

class MuxedFile {
public:
    /// Called when a write finds the disk full; true when it freed space (the write is retried), false to give up.
    using MakeRoom = std::function<bool()>;

    /// Sets up the muxer for `path` in `format` (opens nothing yet). Throws Error.
    MuxedFile(std::string path, const AVOutputFormat* format);
    ~MuxedFile();
    MuxedFile(const MuxedFile&) = delete;
    MuxedFile& operator=(const MuxedFile&) = delete;

    /// Add streams here before open().
    [[nodiscard]] AVFormatContext* container() const noexcept { return container_; }
    void on_full_disk(MakeRoom make_room) { make_room_ = std::move(make_room); }
    /// Writes to a pipe or a URL give up (an error) once `abort` is requested, instead of waiting for a reader that
    /// does not read; a URL also gives up after 5 s without progress. Set before open().
    void interrupt_on(std::stop_token abort) { abort_ = std::move(abort); }

    /// Creates the file and writes the header. `fragmented`: MP4/MOV written as self-contained fragments (a killed
    /// file stays playable). `muxer_options`: the muxer's own (hls_time, ...).
    void open(bool fragmented, const std::map<std::string, std::string>& muxer_options = {});
    /// Writes one packet (timestamps in its stream's time base), as is: no buffering, no reordering.
    void write(AVPacket& packet, const char* what = "cannot write to the file");
    /// Hands everything written so far to the OS: a SIGKILL after this loses none of it.
    void flush();
    /// Writes the trailer and closes the file. Idempotent.
    void finish();
    /// Closes the muxer and the file without a trailer: what reached the file stays.
    void release() noexcept;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    /// A write failed because the disk was full (ENOSPC, EDQUOT) and make_room freed nothing more.
    [[nodiscard]] bool disk_full() const noexcept;
    /// A write failed because nobody reads the pipe any more (EPIPE: the program reading stdout exited).
    [[nodiscard]] bool reader_gone() const noexcept { return error_ == EPIPE; }
    /// Closes everything and throws Error "'PATH': WHAT: WHY" (the failed write's errno, else `code`).
    [[noreturn]] void fail(const std::string& what, int code);

private:
    static int write_to_fd(void* opaque, std::uint8_t* data, int size);
    static std::int64_t seek_fd(void* opaque, std::int64_t offset, int whence);

    std::string path_;
    AVFormatContext* container_ = nullptr;
    AVIOContext* io_ = nullptr;
    bool url_io_ = false;  // io_ opened by avio_open2 (a URL), closed by avio_closep
    int fd_ = -1;
    int error_ = 0;  // errno of the first failed write, for the message
    bool pipe_ = false;  // fd_ may block (a pipe): writes wait in poll(), watching abort_ (write_fully)
    std::stop_token abort_;
    MakeRoom make_room_;
};

}  // namespace framepipe::media
