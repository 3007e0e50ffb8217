#include <framepipe/sources/cameras.hpp>
#include "../media/natural_order.hpp"

#include <framepipe/sources/image_source.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace framepipe {
namespace {

int xioctl(int fd, unsigned long request, void* arg) {
    int r;
    do r = ::ioctl(fd, request, arg);
    while (r == -1 && errno == EINTR);
    return r;
}

std::string text_of(const __u8* bytes, std::size_t size) {
    const auto* chars = reinterpret_cast<const char*>(bytes);
    return std::string(chars, strnlen(chars, size));
}

std::string fourcc_text(__u32 code) {
    std::string text;
    for (int i = 0; i < 4; ++i) text += static_cast<char>((code >> (8 * i)) & 0xff);
    text.erase(text.find_last_not_of(' ') + 1);
    return text;
}

std::vector<double> rates_of(int fd, __u32 pixel_format, __u32 width, __u32 height) {
    std::vector<double> rates;
    v4l2_frmivalenum interval{};
    interval.pixel_format = pixel_format;
    interval.width = width;
    interval.height = height;
    for (interval.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &interval) == 0; ++interval.index) {
        if (interval.type != V4L2_FRMIVAL_TYPE_DISCRETE) break;
        if (interval.discrete.numerator != 0)
            rates.push_back(static_cast<double>(interval.discrete.denominator) / interval.discrete.numerator);
    }
    return rates;
}

std::vector<CameraMode> modes_of(int fd, __u32 pixel_format) {
    std::vector<CameraMode> modes;
    v4l2_frmsizeenum size{};
    size.pixel_format = pixel_format;
    for (size.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &size) == 0; ++size.index) {
        if (size.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
            modes.push_back({static_cast<int>(size.discrete.width), static_cast<int>(size.discrete.height),
                             rates_of(fd, pixel_format, size.discrete.width, size.discrete.height)});
        } else {  // a stepwise or continuous range: report its largest size
            modes.push_back({static_cast<int>(size.stepwise.max_width), static_cast<int>(size.stepwise.max_height),
                             rates_of(fd, pixel_format, size.stepwise.max_width, size.stepwise.max_height)});
            break;
        }
    }
    return modes;
}

}  // namespace

std::vector<CameraInfo> list_cameras(const std::filesystem::path& dev_dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dev_dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("video", 0) == 0 && name.size() > 5) names.push_back(name);
    }
    std::sort(names.begin(), names.end(), media::natural_less);  // video2 before video10

    std::vector<CameraInfo> cameras;
    for (const std::string& name : names) {
        CameraInfo info;
        info.device = (dev_dir / name).string();
        const int fd = ::open(info.device.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            info.problem = errno == EACCES
                               ? "permission denied: add this user to the 'video' group (then log in again)"
                               : fmt::format("cannot open: {}", std::strerror(errno));
            cameras.push_back(std::move(info));
            continue;
        }
        v4l2_capability caps{};
        if (xioctl(fd, VIDIOC_QUERYCAP, &caps) != 0) {
            info.problem = "not a V4L2 device (it does not answer VIDIOC_QUERYCAP)";
            ::close(fd);
            cameras.push_back(std::move(info));
            continue;
        }
        const __u32 device_caps = (caps.capabilities & V4L2_CAP_DEVICE_CAPS) ? caps.device_caps : caps.capabilities;
        if ((device_caps & V4L2_CAP_VIDEO_CAPTURE) == 0) {  // metadata node, output device, codec, ...
            ::close(fd);
            continue;
        }
        info.card = text_of(caps.card, sizeof caps.card);
        info.driver = text_of(caps.driver, sizeof caps.driver);
        info.bus = text_of(caps.bus_info, sizeof caps.bus_info);
        v4l2_fmtdesc format{};
        format.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        for (format.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &format) == 0; ++format.index)
            info.formats.push_back({fourcc_text(format.pixelformat), text_of(format.description, sizeof format.description),
                                    (format.flags & V4L2_FMT_FLAG_COMPRESSED) != 0, modes_of(fd, format.pixelformat)});
        ::close(fd);
        cameras.push_back(std::move(info));
    }
    return cameras;
}

}  // namespace framepipe
