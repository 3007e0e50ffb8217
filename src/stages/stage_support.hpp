#pragma once
// What the stage families share: the pixel check every stage that reads pixels makes, the catalogue's factory for a
// stage class, and the resizes several stages need (a copy of a given width keeping the aspect ratio; a small gray
// copy for cheap comparisons). Everything renders into caller-owned buffers, so a steady stream allocates nothing.

#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/stage.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string_view>

namespace framepipe::stages {

/// Throws BadFrame (the frame is rejected, the run goes on) unless the frame holds decoded 8-bit BGR or gray pixels.
inline void require_pixels(const Frame& frame, std::string_view stage) {
    if (frame.format != PixelFormat::bgr && frame.format != PixelFormat::gray)
        throw BadFrame(fmt::format("{} needs decoded pixels; put it after the decode stages", stage));
    if (frame.image.empty()) throw BadFrame("empty image");
}

/// The catalogue's factory for stage class T, constructed as T(name, options).
template <class T>
decltype(StageSpec::make) factory_of() {
    return [](const std::string& name, const OptionValues& o) { return std::make_unique<T>(name, o); };
}

/// `image` itself when `width` is 0 or already its width; otherwise a copy `width` wide (height by the aspect ratio,
/// at least 2) rendered into `buffer`: INTER_AREA when shrinking, linear when enlarging.
inline const cv::Mat& scaled_to_width(const cv::Mat& image, int width, cv::Mat& buffer) {
    if (width == 0 || width == image.cols) return image;
    const int height =
        std::max(2, static_cast<int>(std::lround(static_cast<double>(image.rows) * width / std::max(1, image.cols))));
    cv::resize(image, buffer, cv::Size(width, height), 0, 0, width < image.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
    return buffer;
}

/// A gray copy `width` wide (height by the aspect ratio), for comparing frames cheaply; `resized` is scratch.
inline void small_gray(const cv::Mat& image, int width, cv::Mat& resized, cv::Mat& gray) {
    const int height = std::max(1, image.rows * width / std::max(1, image.cols));
    cv::resize(image, resized, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    if (resized.channels() == 3) cv::cvtColor(resized, gray, cv::COLOR_BGR2GRAY);
    else resized.copyTo(gray);
}

}  // namespace framepipe::stages
