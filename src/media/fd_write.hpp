#pragma once
// Writing whole buffers to a file descriptor that may be a pipe whose reader stops reading (stdout into a player that
// paused, a FIFO): the writer must still see an abort. Used by MuxedFile (the muxers' output) and the y4m stage.

#include <cstddef>
#include <functional>
#include <stop_token>

namespace framepipe::media {

/// True when `fd` is not a regular file (a pipe, a FIFO, a socket, a terminal): writes to it may wait for a reader.
bool may_block(int fd) noexcept;

/// Writes all `size` bytes. When `blocking` (may_block), waits for room in poll() in steps of 100 ms and writes at most
/// PIPE_BUF bytes at a time (what POLLOUT promises), so `abort` ends the wait. A full disk (ENOSPC, EDQUOT) calls
/// `make_room`, if set, and retries while it frees space. Returns 0, or the errno of the failure (ECANCELED on abort,
/// EPIPE when the reader went away).
int write_fully(int fd, const void* data, std::size_t size, bool blocking, const std::stop_token& abort,
                const std::function<bool()>& make_room = {}) noexcept;

}  // namespace framepipe::media
