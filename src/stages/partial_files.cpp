#include "partial_files.hpp"

#include "../media/video_encoder.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace framepipe::stages {
namespace fs = std::filesystem;

fs::path part_of(const fs::path& path) {
    return path.parent_path() / (path.stem().string() + ".part" + path.extension().string());
}

PartFile PartFile::claim(const fs::path& final_path, const std::string& who) {
    media::prepare_output_folder(final_path.parent_path().string(), who);
    const fs::path first = part_of(final_path);
    int renamed_under_us = 0;
    for (int n = 1;; ++n) {
        const fs::path candidate =
            n == 1 ? first
                   : first.parent_path() / fmt::format("{}-{}{}", first.stem().string(), n, first.extension().string());
        // O_NONBLOCK: a FIFO under that name fails at once instead of waiting for a reader.
        const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
        if (fd < 0)
            throw ConfigError(fmt::format("{}: cannot create '{}': {}; choose another path, or change the permissions",
                                          who, candidate.string(), std::strerror(errno)));
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);  // held by another process: the next name
            if (n >= 100)
                throw Error(fmt::format("{}: 100 processes are writing '{}' at once", who, final_path.string()));
            continue;
        }
        // The lock is on the file opened, which its writer may have renamed to the final name between our open and our
        // flock: then it is a finished file, not ours to empty. The name must still lead to the file locked.
        struct stat locked {}, named {};
        if (::fstat(fd, &locked) != 0 || ::stat(candidate.c_str(), &named) != 0 || locked.st_dev != named.st_dev ||
            locked.st_ino != named.st_ino) {
            ::close(fd);
            if (++renamed_under_us > 100)
                throw Error(fmt::format("{}: '{}' keeps being replaced while it is opened", who, candidate.string()));
            --n;  // the same name again
            continue;
        }
        if (S_ISREG(locked.st_mode) && ::ftruncate(fd, 0) != 0) {
            const int error = errno;
            ::close(fd);
            throw ConfigError(fmt::format("{}: cannot empty '{}': {}", who, candidate.string(), std::strerror(error)));
        }
        if (n > 1)
            spdlog::warn("{}: another process is writing '{}' (the same input run twice at once?); writing '{}' "
                         "instead, renamed to '{}' when complete",
                         who, first.string(), candidate.string(), final_path.string());
        PartFile claimed;
        claimed.fd_ = fd;
        claimed.path_ = candidate.string();
        return claimed;
    }
}

PartFile::PartFile(PartFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

PartFile& PartFile::operator=(PartFile&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
    }
    return *this;
}

PartFile::~PartFile() { release(); }

void PartFile::release() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::vector<fs::path> recover_leftovers(const std::string& dir, const std::string& input, const std::string& extension,
                                        const std::string& who, const std::string& what) {
    const std::string marker = ".part." + extension;
    std::vector<fs::path> leftovers;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string file = entry.path().filename().string();
        if (file.rfind(input + "_", 0) == 0 && file.size() > marker.size() &&
            file.compare(file.size() - marker.size(), marker.size(), marker) == 0)
            leftovers.push_back(entry.path());
    }
    std::vector<fs::path> recovered;
    for (const fs::path& leftover : leftovers) {
        if (!media::holds_playable_frame(leftover.string())) {
            fs::remove(leftover, ec);
            spdlog::warn("{}: removed {}, left open by a previous run: it holds no playable frame", who,
                         leftover.string());
            continue;
        }
        const std::string file = leftover.filename().string();
        const std::string base = (fs::path(dir) / (file.substr(0, file.size() - marker.size()) + "-recovered")).string();
        fs::path target = base + "." + extension;
        for (int n = 2; fs::exists(target, ec) || fs::exists(part_of(target), ec); ++n)
            target = fmt::format("{}-{}.{}", base, n, extension);
        fs::rename(leftover, target, ec);
        if (ec) {
            spdlog::warn("{}: cannot rename {}, left open by a previous run: {}", who, leftover.string(), ec.message());
            continue;
        }
        spdlog::warn("{}: recovered the {} a previous run left open: {}", who, what, target.string());
        recovered.push_back(target);
    }
    return recovered;
}

}  // namespace framepipe::stages
