#include "muxed_file.hpp"

#include "fd_write.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace framepipe::media {

MuxedFile::MuxedFile(std::string path, const AVOutputFormat* format) : path_(std::move(path)) {
    const int ret = avformat_alloc_output_context2(&container_, format, nullptr, path_.c_str());
    if (ret < 0) throw Error(fmt::format("'{}': cannot set up the container: {}", path_, av_error_text(ret)));
}

MuxedFile::~MuxedFile() { release(); }

int MuxedFile::write_to_fd(void* opaque, std::uint8_t* data, int size) {
    auto& file = *static_cast<MuxedFile*>(opaque);
    const int error =
        write_fully(file.fd_, data, static_cast<std::size_t>(size), file.pipe_, file.abort_, file.make_room_);
    if (error == 0) return size;
    if (file.error_ == 0) file.error_ = error;
    return AVERROR(error);
}

std::int64_t MuxedFile::seek_fd(void* opaque, std::int64_t offset, int whence) {
    auto& file = *static_cast<MuxedFile*>(opaque);
    if (whence == AVSEEK_SIZE) {
        struct stat info {};
        return ::fstat(file.fd_, &info) == 0 ? static_cast<std::int64_t>(info.st_size) : AVERROR(errno);
    }
    const off_t at = ::lseek(file.fd_, offset, whence & ~AVSEEK_FORCE);
    return at < 0 ? AVERROR(errno) : static_cast<std::int64_t>(at);
}

void MuxedFile::fail(const std::string& what, int code) {
    const std::string why = error_ != 0 ? std::string(std::strerror(error_)) : av_error_text(code);
    release();
    throw Error(fmt::format("'{}': {}: {}", path_, what, why));
}

void MuxedFile::open(bool fragmented, const std::map<std::string, std::string>& muxer_options) {
    if (!(container_->oformat->flags & AVFMT_NOFILE) && path_.find("://") != std::string::npos) {
        const AVIOInterruptCB interrupt{[](void* token) -> int {
                                            return static_cast<const std::stop_token*>(token)->stop_requested() ? 1 : 0;
                                        },
                                        &abort_};
        AVDictionary* io_options = nullptr;
        av_dict_set(&io_options, "rw_timeout", "5000000", 0);  // microseconds without progress
        const int ret = avio_open2(&io_, path_.c_str(), AVIO_FLAG_WRITE, &interrupt, &io_options);
        av_dict_free(&io_options);
        if (ret < 0) fail("cannot open the output", ret);
        url_io_ = true;
        container_->pb = io_;
    } else if (!(container_->oformat->flags & AVFMT_NOFILE)) {
        fd_ = path_ == "-" ? ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0)
                           : ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            error_ = errno;
            fail("cannot create the file", AVERROR(error_));
        }
        pipe_ = may_block(fd_);
        constexpr int kBuffer = 64 * 1024;
        auto* buffer = static_cast<unsigned char*>(av_malloc(kBuffer));
        io_ = avio_alloc_context(buffer, kBuffer, 1, this, nullptr, &write_to_fd, &seek_fd);
        if (io_ == nullptr) {
            av_free(buffer);
            fail("out of memory", AVERROR(ENOMEM));
        }
        container_->pb = io_;
        container_->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    AVDictionary* options = nullptr;
    if (fragmented) av_dict_set(&options, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
    for (const auto& [key, value] : muxer_options) av_dict_set(&options, key.c_str(), value.c_str(), 0);
    const int ret = avformat_write_header(container_, &options);
    av_dict_free(&options);
    if (ret < 0) fail("cannot write the header", ret);
}

void MuxedFile::write(AVPacket& packet, const char* what) {
    const int ret = av_write_frame(container_, &packet);
    if (ret < 0) fail(what, ret);
}

void MuxedFile::flush() {
    // Muxers that hold data back take a flush request; those that write files of their own (HLS) finish each segment
    // as they go and are not asked.
    const int flags = container_->oformat->flags;
    int ret = (flags & AVFMT_ALLOW_FLUSH) && !(flags & AVFMT_NOFILE) ? av_write_frame(container_, nullptr) : 0;
    if (ret >= 0 && container_->pb != nullptr) {
        avio_flush(container_->pb);
        ret = container_->pb->error;
    }
    if (ret < 0) fail("cannot write to the file", ret);
}

void MuxedFile::finish() {
    if (container_ == nullptr) return;
    int ret = av_write_trailer(container_);
    if (ret >= 0 && container_->pb != nullptr) {
        avio_flush(container_->pb);
        ret = container_->pb->error;
    }
    if (ret < 0) fail("cannot finish the file", ret);
    release();
    if (error_ != 0) throw Error(fmt::format("'{}': cannot finish the file: {}", path_, std::strerror(error_)));
}

void MuxedFile::release() noexcept {
    if (container_ != nullptr) {
        container_->pb = nullptr;
        avformat_free_context(container_);
        container_ = nullptr;
    }
    if (io_ != nullptr && url_io_) {
        avio_closep(&io_);
    } else if (io_ != nullptr) {
        av_freep(&io_->buffer);
        avio_context_free(&io_);
    }
    if (fd_ >= 0) {
        if (::close(fd_) != 0 && error_ == 0) error_ = errno;
        fd_ = -1;
    }
}

bool MuxedFile::disk_full() const noexcept { return error_ == ENOSPC || error_ == EDQUOT; }

}  // namespace framepipe::media
