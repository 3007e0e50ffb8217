#include "fd_write.hpp"

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace framepipe::media {

bool may_block(int fd) noexcept {
    struct stat info {};
    return ::fstat(fd, &info) == 0 && !S_ISREG(info.st_mode);
}

int write_fully(int fd, const void* data, std::size_t size, bool blocking, const std::stop_token& abort,
                const std::function<bool()>& make_room) noexcept {
    const auto* bytes = static_cast<const char*>(data);
    while (size > 0) {
        std::size_t chunk = size;
        if (blocking) {
            pollfd ready{fd, POLLOUT, 0};
            const int polled = ::poll(&ready, 1, 100);
            if (abort.stop_requested()) return ECANCELED;
            if (polled == 0 || (polled < 0 && errno == EINTR)) continue;
            chunk = std::min<std::size_t>(chunk, 4096);
        }
        const ssize_t n = ::write(fd, bytes, chunk);
        if (n >= 0) {
            bytes += n;
            size -= static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        try {
            if ((errno == ENOSPC || errno == EDQUOT) && make_room && make_room()) continue;
        } catch (...) {
        }
        return errno;
    }
    return 0;
}

}  // namespace framepipe::media
