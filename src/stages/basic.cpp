#include <framepipe/error.hpp>
#include <framepipe/stages/basic.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <utility>

namespace framepipe {

GaussianBlur::GaussianBlur(Options options)
    : Stage({.name = options.name, .parallel = true}), options_(std::move(options)) {}

void GaussianBlur::open(const StageContext&) {
    if (options_.ksize < 1 || options_.ksize > 99 || options_.ksize % 2 == 0)
        throw ConfigError(fmt::format("ksize must be odd and between 1 and 99, got {}", options_.ksize));
    if (options_.sigma < 0) throw ConfigError(fmt::format("sigma must be 0 (automatic) or more, got {}", options_.sigma));
}

Outcome GaussianBlur::process(Frame& frame) {
    cv::Mat& out = frame.buffer(frame.image.size(), frame.image.type());
    cv::GaussianBlur(frame.image, out, cv::Size(options_.ksize, options_.ksize), options_.sigma);
    frame.set_image(out);
    return Outcome::pass;
}

Resize::Resize(Options options) : Stage({.name = options.name, .parallel = true}), options_(std::move(options)) {}

void Resize::open(const StageContext&) {
    if (options_.width < 0 || options_.height < 0 || options_.width > 16384 || options_.height > 16384)
        throw ConfigError(fmt::format("width and height must be between 0 and 16384, got {}x{}", options_.width,
                                      options_.height));
    if (options_.width == 0 && options_.height == 0) throw ConfigError("give a width, a height, or both");
    const std::pair<const char*, int> modes[] = {
        {"area", cv::INTER_AREA}, {"linear", cv::INTER_LINEAR}, {"cubic", cv::INTER_CUBIC}, {"nearest", cv::INTER_NEAREST}};
    for (auto [name, mode] : modes)
        if (options_.interpolation == name) {
            interpolation_ = mode;
            return;
        }
    throw ConfigError(fmt::format("interpolation must be area, linear, cubic or nearest, got '{}'",
                                  options_.interpolation));
}

Outcome Resize::process(Frame& frame) {
    const cv::Size in = frame.image.size();
    if (in.empty()) throw BadFrame("empty image");
    int w = options_.width;
    int h = options_.height;
    if (w == 0) w = std::max(1, static_cast<int>(std::lround(static_cast<double>(in.width) * h / in.height)));
    if (h == 0) h = std::max(1, static_cast<int>(std::lround(static_cast<double>(in.height) * w / in.width)));
    if (w == in.width && h == in.height) return Outcome::pass;
    cv::Mat& out = frame.buffer(cv::Size(w, h), frame.image.type());
    cv::resize(frame.image, out, out.size(), 0, 0, interpolation_);
    frame.set_image(out);
    return Outcome::pass;
}

}  // namespace framepipe
