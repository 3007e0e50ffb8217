#include "image_output.hpp"

#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace framepipe::stages {
namespace fs = std::filesystem;

namespace {

std::string extension_of(const std::string& name) {
    std::string ext = fs::path(name).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext;
}

std::vector<int> encode_parameters(const std::string& ext, int quality) {
    if (ext == ".jpg" || ext == ".jpeg") return {cv::IMWRITE_JPEG_QUALITY, quality};
    if (ext == ".webp") return {cv::IMWRITE_WEBP_QUALITY, quality};
    if (ext == ".png") return {cv::IMWRITE_PNG_COMPRESSION, std::clamp(9 - quality / 11, 0, 9)};  // 100 -> 0 (fast)
    return {};
}

}  // namespace

ImageOutput::ImageOutput(std::string dir, const std::string& name_template, int quality, bool overwrite)
    : dir_(dir.empty() ? std::string(".") : std::move(dir)), quality_(quality), overwrite_(overwrite) {
    validate_template(name_template, "file");
    const std::string ext = extension_of(name_template);
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".webp" && ext != ".bmp" && ext != ".tif" &&
        ext != ".tiff")
        throw ConfigError(fmt::format("file name '{}' must end in .jpg, .png, .webp, .bmp or .tiff", name_template));
}

void ImageOutput::prepare() const {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw ConfigError(fmt::format("cannot create the output folder '{}': {}", dir_, ec.message()));
    if (::access(dir_.c_str(), W_OK | X_OK) != 0)
        throw ConfigError(fmt::format("cannot write to the output folder '{}': {}; choose another dir", dir_,
                                      std::strerror(errno)));
}

void ImageOutput::write(const cv::Mat& image, const std::string& file_name) const {
    const fs::path path = fs::path(dir_) / file_name;
    std::error_code ec;
    if (!overwrite_ && fs::exists(path, ec))
        throw Error(fmt::format("'{}' already exists; set overwrite: true, or choose another dir or name",
                                path.string()));
    const std::string ext = extension_of(file_name);
    thread_local std::vector<uchar> encoded;
    if (!cv::imencode(ext, image, encoded, encode_parameters(ext, quality_)))
        throw Error(fmt::format("cannot encode '{}'", path.string()));
    const std::string temporary = path.string() + ".part";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(fmt::format("cannot write '{}': {}", temporary, std::strerror(errno)));
    std::size_t done = 0;
    while (done < encoded.size()) {
        const ssize_t n = ::write(fd, encoded.data() + done, encoded.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(temporary.c_str());
            throw Error(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0 || std::rename(temporary.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(temporary.c_str());
        throw Error(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
    }
}

}  // namespace framepipe::stages
