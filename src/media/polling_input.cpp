#include "polling_input.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace framepipe::media {
namespace {
constexpr int kBufferSize = 64 * 1024;
constexpr int kPollMs = 100;
}  // namespace

bool PollingInput::needed_for(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

PollingInput::PollingInput(const std::string& path, AVIOInterruptCB interrupt) : interrupt_(interrupt) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw Error(fmt::format("'{}': cannot open: {}", path, std::strerror(errno)));
    auto* buffer = static_cast<std::uint8_t*>(av_malloc(kBufferSize));
    io_ = buffer != nullptr ? avio_alloc_context(buffer, kBufferSize, 0, this, &PollingInput::read_packet, nullptr, nullptr)
                            : nullptr;
    if (io_ == nullptr) {
        av_free(buffer);
        ::close(fd_);
        throw Error(fmt::format("'{}': out of memory", path));
    }
    io_->seekable = 0;
}

PollingInput::~PollingInput() {
    if (io_ != nullptr) av_freep(&io_->buffer);
    avio_context_free(&io_);
    if (fd_ >= 0) ::close(fd_);
}

void PollingInput::attach(AVFormatContext& container) noexcept {
    container.pb = io_;
    container.flags |= AVFMT_FLAG_CUSTOM_IO;
}

int PollingInput::read_packet(void* opaque, std::uint8_t* buffer, int size) {
    auto& self = *static_cast<PollingInput*>(opaque);
    for (;;) {
        if (self.interrupt_.callback != nullptr && self.interrupt_.callback(self.interrupt_.opaque) != 0)
            return AVERROR_EXIT;
        const ssize_t n = ::read(self.fd_, buffer, static_cast<std::size_t>(size));
        if (n > 0) {
            self.seen_data_ = true;
            return static_cast<int>(n);
        }
        if (n == 0 && self.seen_data_) return AVERROR_EOF;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return AVERROR(errno);
        // Nothing yet (no writer, or no data): wait, but never longer than kPollMs between interrupt checks. A FIFO
        // without a writer polls as hung up at once, so the wait is then a plain sleep.
        pollfd wait{self.fd_, POLLIN, 0};
        if (::poll(&wait, 1, kPollMs) > 0 && (wait.revents & POLLIN) == 0) ::poll(nullptr, 0, kPollMs);
    }
}

}  // namespace framepipe::media
