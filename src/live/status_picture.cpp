#include "status_picture.hpp"

#include "../media/jpeg_encode.hpp"

#include <framepipe/error.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <ctime>
#include <vector>

namespace framepipe::live {
namespace {

/// What the Hershey fonts can draw: printable ASCII, anything else as '?'.
std::string drawable(const std::string& text) {
    std::string out;
    for (const char c : text) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

/// Draws `text` centred at height `y`, shrunk until it fits `width` (less a margin).
void centred(cv::Mat& picture, const std::string& text, int y, double scale, int thickness, cv::Scalar color) {
    int baseline = 0;
    cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
    const int room = picture.cols * 9 / 10;
    if (size.width > room) {
        scale *= static_cast<double>(room) / size.width;
        size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
    }
    cv::putText(picture, text, cv::Point((picture.cols - size.width) / 2, y), cv::FONT_HERSHEY_SIMPLEX, scale, color,
                thickness, cv::LINE_AA);
}

}  // namespace

std::string status_picture(const std::string& name, const StreamStatus& status, const Clock& clock, cv::Size size) {
    if (size.width <= 0 || size.height <= 0) size = {640, 360};
    if (size.width < 320) size = {320, std::max(1, size.height * 320 / size.width)};
    if (size.width > 1280) size = {1280, std::max(1, size.height * 1280 / size.width)};
    size.height = std::clamp(size.height, 120, 1440);
    cv::Mat picture(size, CV_8UC3, cv::Scalar(40, 32, 32));
    const char* headline = status.state == StreamState::lost           ? "SIGNAL LOST"
                           : status.state == StreamState::reconnecting ? "RECONNECTING"
                                                                       : "NO SIGNAL YET";
    const cv::Scalar accent =
        status.state == StreamState::waiting ? cv::Scalar(200, 200, 200) : cv::Scalar(60, 60, 230);
    const double scale = size.width / 400.0;
    const int line = size.height / 6;
    cv::rectangle(picture, cv::Rect(0, 0, size.width, std::max(4, size.height / 60)), accent, cv::FILLED);
    centred(picture, headline, size.height / 2 - line / 2, scale * 1.2, std::max(2, size.width / 240), accent);
    centred(picture, drawable(name), size.height / 2 + line / 2, scale * 0.7, std::max(1, size.width / 400),
            cv::Scalar(230, 230, 230));
    if (status.since) {
        const std::time_t t = std::chrono::system_clock::to_time_t(clock.wall_time(*status.since));
        const char* what = status.state == StreamState::waiting ? "waiting since" : "lost since";
        centred(picture, fmt::format("{} {:%Y-%m-%d %H:%M:%S}", what, fmt::localtime(t)),
                size.height / 2 + line * 3 / 2, scale * 0.5, 1, cv::Scalar(180, 180, 180));
    }
    if (status.state == StreamState::lost)
        centred(picture, "reconnecting...", size.height / 2 + line * 2, scale * 0.45, 1, cv::Scalar(150, 150, 150));
    std::vector<uchar> jpeg;
    if (!media::encode_jpeg(picture, 80, jpeg))
        throw Error(fmt::format("live view: cannot encode the status picture of '{}'", name));
    return std::string(jpeg.begin(), jpeg.end());
}

}  // namespace framepipe::live
