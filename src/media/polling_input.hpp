#pragma once
// PollingInput: FFmpeg's input I/O over a file descriptor that is waited on with poll(), for inputs whose open() or
// read() can block indefinitely in the kernel: FIFOs (no writer yet, or a writer that pauses), sockets and character
// devices other than cameras. FFmpeg's own file protocol would block in open(2) or read(2), where no interrupt callback
// is ever consulted; here the descriptor is opened non-blocking and every wait checks the interrupt callback at least
// every 100 ms, so a stop or a deadline always ends the wait (AVERROR_EXIT).
//
// Ownership: owns the descriptor and the AVIOContext (with its buffer). It must outlive the AVFormatContext it is
// attached to (attach(), which sets AVFMT_FLAG_CUSTOM_IO: avformat_close_input then leaves it alone).
// Not thread-safe: used by the one thread that reads the source.

#include "av_support.hpp"

#include <memory>
#include <string>

namespace framepipe::media {

class PollingInput {
public:
    /// Opens `path` for reading without blocking. Throws framepipe::Error naming the path when it cannot.
    PollingInput(const std::string& path, AVIOInterruptCB interrupt);
    ~PollingInput();
    PollingInput(const PollingInput&) = delete;
    PollingInput& operator=(const PollingInput&) = delete;

    /// Makes `container` (allocated, not yet opened) read through this input.
    void attach(AVFormatContext& container) noexcept;

    /// True when `path` names something FFmpeg's file protocol could block on forever (not a regular file).
    static bool needed_for(const std::string& path);

private:
    static int read_packet(void* self, std::uint8_t* buffer, int size);

    int fd_ = -1;
    AVIOInterruptCB interrupt_;
    bool seen_data_ = false;  // a FIFO reads 0 bytes both before its writer comes and after it goes
    AVIOContext* io_ = nullptr;
};

}  // namespace framepipe::media
