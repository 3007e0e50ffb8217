// Per-frame filters. Every one works on 8-bit BGR or gray frames, renders into frame-owned buffers (nothing is
// allocated per frame once the pool's frames have been through), and checks its options when it is made.
// All are stateless and parallel except decimate, which keeps count.
#include "filters.hpp"
#include "stage_support.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

namespace framepipe::stages {
namespace {

StageTraits parallel_traits(const std::string& name) { return {.name = name, .parallel = true}; }
// A filter that renders its result into a buffer of the frame's (Frame::buffer, set_image), never into its pixels.
StageTraits render_traits(const std::string& name) {
    return {.name = name, .parallel = true, .renders_new_image = true};
}

using K = OptionKind;
constexpr int kFilters = 100;  // listed first

// ---- resize -------------------------------------------------------------------------------------------------------

class Resize final : public Stage {
public:
    Resize(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)),
          target_{.width = static_cast<int>(o.integer("width")),
                  .height = static_cast<int>(o.integer("height")),
                  .scale = o.number("scale")} {
        if (target_.width == 0 && target_.height == 0 && target_.scale == 0)
            throw ConfigError("resize needs a width, a height (the other follows the aspect ratio) or a scale");
        if (target_.scale != 0 && (target_.width != 0 || target_.height != 0))
            throw ConfigError("resize takes either a scale or a width/height, not both");
        const std::string& mode = o.text("interpolation");
        target_.interpolation = mode == "area"      ? cv::INTER_AREA
                                : mode == "linear"  ? cv::INTER_LINEAR
                                : mode == "cubic"   ? cv::INTER_CUBIC
                                : mode == "nearest" ? cv::INTER_NEAREST
                                                    : -1;  // auto
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "resize");
        const cv::Size in = frame.image.size();
        const cv::Size out = target_.output_for(in);
        if (out == in) return Outcome::pass;
        cv::Mat& dst = frame.buffer(out, frame.image.type());
        cv::resize(frame.image, dst, out, 0, 0, target_.interpolation_for(in));
        frame.set_image(dst);
        return Outcome::pass;
    }

    [[nodiscard]] const ResizeParameters& target() const noexcept { return target_; }

private:
    ResizeParameters target_;
};

const bool declared_resize = declare_stage(
    {"resize", "Resize to a width and/or height (keeping the aspect ratio) or by a scale factor",
     "- { type: resize, width: 320 }", {.parallel = true},
     {{"width", K::integer, "0", "Output width; 0 follows the height", 0, 16384},
      {"height", K::integer, "0", "Output height; 0 follows the width", 0, 16384},
      {"scale", K::number, "0", "Scale factor instead of a size (0.5 halves)", 0, 16},
      {"interpolation", K::choice, "auto", "auto = area when shrinking, linear when enlarging",
       std::nullopt, std::nullopt, {"auto", "area", "linear", "cubic", "nearest"}}},
     factory_of<Resize>(), kFilters});

// ---- crop ---------------------------------------------------------------------------------------------------------

class Crop final : public Stage {
public:
    Crop(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)),
          x_(static_cast<int>(o.integer("x"))),
          y_(static_cast<int>(o.integer("y"))),
          width_(static_cast<int>(o.integer("width"))),
          height_(static_cast<int>(o.integer("height"))) {}

    Outcome process(Frame& frame) override {
        require_pixels(frame, "crop");
        const cv::Size in = frame.image.size();
        const int x = x_ >= 0 ? x_ : (in.width - width_) / 2;  // -1: centred
        const int y = y_ >= 0 ? y_ : (in.height - height_) / 2;
        const cv::Rect rect = cv::Rect(x, y, width_, height_) & cv::Rect(0, 0, in.width, in.height);
        if (rect.empty())
            throw BadFrame(fmt::format("crop {}x{} at {},{} lies outside the {}x{} image", width_, height_, x, y,
                                       in.width, in.height));
        cv::Mat& dst = frame.buffer(rect.size(), frame.image.type());
        frame.image(rect).copyTo(dst);
        frame.set_image(dst);
        return Outcome::pass;
    }

private:
    int x_, y_, width_, height_;
};

const bool declared_crop = declare_stage(
    {"crop", "Cut out a rectangle (centred unless x and y are given); clipped to the image",
     "- { type: crop, width: 640, height: 360 }", {.parallel = true},
     {{"width", K::integer, "", "Width of the rectangle", 1, 16384, {}, true},
      {"height", K::integer, "", "Height of the rectangle", 1, 16384, {}, true},
      {"x", K::integer, "-1", "Left edge; -1 centres horizontally", -1, 16384},
      {"y", K::integer, "-1", "Top edge; -1 centres vertically", -1, 16384}},
     factory_of<Crop>(), kFilters});

// ---- rotate / flip ------------------------------------------------------------------------------------------------

class Rotate final : public Stage {
public:
    Rotate(const std::string& name, const OptionValues& o) : Stage(render_traits(name)) {
        const std::string& angle = o.text("angle");
        code_ = angle == "90" ? cv::ROTATE_90_CLOCKWISE : angle == "180" ? cv::ROTATE_180 : cv::ROTATE_90_COUNTERCLOCKWISE;
    }
    Outcome process(Frame& frame) override {
        require_pixels(frame, "rotate");
        const cv::Size in = frame.image.size();
        const cv::Size out = code_ == cv::ROTATE_180 ? in : cv::Size(in.height, in.width);
        cv::Mat& dst = frame.buffer(out, frame.image.type());
        cv::rotate(frame.image, dst, code_);
        frame.set_image(dst);
        return Outcome::pass;
    }

private:
    int code_;
};

const bool declared_rotate = declare_stage(
    {"rotate", "Rotate by a quarter turn, half turn or three quarters (clockwise)",
     "- { type: rotate, angle: 90 }", {.parallel = true},
     {{"angle", K::choice, "90", "Degrees clockwise", std::nullopt, std::nullopt, {"90", "180", "270"}}},
     factory_of<Rotate>(), kFilters});

class Flip final : public Stage {
public:
    Flip(const std::string& name, const OptionValues& o) : Stage(render_traits(name)) {
        const std::string& axis = o.text("axis");
        code_ = axis == "horizontal" ? 1 : axis == "vertical" ? 0 : -1;
    }
    Outcome process(Frame& frame) override {
        require_pixels(frame, "flip");
        cv::Mat& dst = frame.buffer(frame.image.size(), frame.image.type());
        cv::flip(frame.image, dst, code_);
        frame.set_image(dst);
        return Outcome::pass;
    }

private:
    int code_;
};

const bool declared_flip = declare_stage(
    {"flip", "Mirror the image", "- { type: flip, axis: horizontal }", {.parallel = true},
     {{"axis", K::choice, "horizontal", "horizontal (left-right), vertical (upside down) or both",
       std::nullopt, std::nullopt, {"horizontal", "vertical", "both"}}},
     factory_of<Flip>(), kFilters});

// ---- colour -------------------------------------------------------------------------------------------------------

class Color final : public Stage {
public:
    Color(const std::string& name, const OptionValues& o) : Stage(render_traits(name)), to_(o.text("to")) {}

    Outcome process(Frame& frame) override {
        require_pixels(frame, "color");
        const bool gray_in = frame.image.channels() == 1;
        if (to_ == "gray") {
            if (gray_in) return Outcome::pass;
            convert(frame, cv::COLOR_BGR2GRAY, CV_8UC1);
            frame.format = PixelFormat::gray;
        } else if (to_ == "bgr") {
            if (!gray_in) return Outcome::pass;
            convert(frame, cv::COLOR_GRAY2BGR, CV_8UC3);
            frame.format = PixelFormat::bgr;
        } else {
            if (gray_in) convert(frame, cv::COLOR_GRAY2BGR, CV_8UC3);
            const int code = to_ == "rgb" ? cv::COLOR_BGR2RGB
                             : to_ == "hsv" ? cv::COLOR_BGR2HSV
                             : to_ == "lab" ? cv::COLOR_BGR2Lab
                                            : cv::COLOR_BGR2YCrCb;
            convert(frame, code, CV_8UC3);
            frame.format = PixelFormat::bgr;  // three 8-bit channels; no longer blue-green-red
        }
        return Outcome::pass;
    }

    [[nodiscard]] const std::string& target() const noexcept { return to_; }

private:
    static void convert(Frame& frame, int code, int type) {
        cv::Mat& dst = frame.buffer(frame.image.size(), type);
        cv::cvtColor(frame.image, dst, code);
        frame.set_image(dst);
    }
    std::string to_;
};

const bool declared_color = declare_stage(
    {"color", "Convert colours: to gray (one channel), back to BGR, or to RGB, HSV, Lab, YCrCb",
     "- { type: color, to: gray }", {.parallel = true},
     {{"to", K::choice, "gray", "Target colour space", std::nullopt, std::nullopt,
       {"gray", "bgr", "rgb", "hsv", "lab", "ycrcb"}}},
     factory_of<Color>(), kFilters});

// ---- blur, sharpen ------------------------------------------------------------------------------------------------

int odd_kernel(const OptionValues& o, std::string_view stage) {
    const auto k = static_cast<int>(o.integer("ksize"));
    if (k % 2 == 0) throw ConfigError(fmt::format("{}: option 'ksize' must be odd, got {}", stage, k));
    return k;
}

class GaussianBlur final : public Stage {
public:
    GaussianBlur(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)), ksize_(odd_kernel(o, "blur")), sigma_(o.number("sigma")) {}
    Outcome process(Frame& frame) override {
        require_pixels(frame, "blur");
        cv::Mat& dst = frame.buffer(frame.image.size(), frame.image.type());
        // BORDER_ISOLATED: a frame's picture may be a view of a taller buffer (slack rows for swscale), which OpenCV
        // would otherwise treat as a region of a bigger picture, taking its slower floating-point path; the picture
        // is all there is, so the result is the same as a plain cv::GaussianBlur of it (as Python's cv2 gives).
        cv::GaussianBlur(frame.image, dst, cv::Size(ksize_, ksize_), sigma_, 0,
                         cv::BORDER_REFLECT_101 | cv::BORDER_ISOLATED);
        frame.set_image(dst);
        return Outcome::pass;
    }

    [[nodiscard]] BlurParameters parameters() const noexcept { return {ksize_, sigma_}; }

private:
    int ksize_;
    double sigma_;
};

const bool declared_blur = declare_stage(
    {"blur", "Gaussian blur", "- { type: blur, ksize: 5 }", {.parallel = true},
     {{"ksize", K::integer, "5", "Kernel size, odd", 1, 99},
      {"sigma", K::number, "0", "Standard deviation; 0 derives it from ksize", 0, 100}},
     factory_of<GaussianBlur>(), kFilters});

class MedianBlur final : public Stage {
public:
    MedianBlur(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)), ksize_(odd_kernel(o, "median_blur")) {}
    Outcome process(Frame& frame) override {
        require_pixels(frame, "median_blur");
        cv::Mat& dst = frame.buffer(frame.image.size(), frame.image.type());
        cv::medianBlur(frame.image, dst, ksize_);
        frame.set_image(dst);
        return Outcome::pass;
    }

private:
    int ksize_;
};

const bool declared_median_blur = declare_stage(
    {"median_blur", "Median blur (removes salt-and-pepper noise)", "- { type: median_blur, ksize: 3 }",
     {.parallel = true}, {{"ksize", K::integer, "3", "Kernel size, odd", 3, 99}}, factory_of<MedianBlur>(), kFilters});

class Sharpen final : public Stage {
public:
    Sharpen(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)), amount_(o.number("amount")), sigma_(o.number("radius")) {}
    Outcome process(Frame& frame) override {  // unsharp mask: image + amount * (image - blurred)
        require_pixels(frame, "sharpen");
        cv::Mat& blurred = frame.buffer(frame.image.size(), frame.image.type());
        cv::GaussianBlur(frame.image, blurred, cv::Size(), sigma_, 0, cv::BORDER_REFLECT_101 | cv::BORDER_ISOLATED);
        cv::addWeighted(frame.image, 1.0 + amount_, blurred, -amount_, 0, blurred);
        frame.set_image(blurred);
        return Outcome::pass;
    }

private:
    double amount_, sigma_;
};

const bool declared_sharpen = declare_stage(
    {"sharpen", "Unsharp mask: image + amount x (image - blurred image)",
     "- { type: sharpen, amount: 1.0 }", {.parallel = true},
     {{"amount", K::number, "1.0", "Strength", 0, 10},
      {"radius", K::number, "1.0", "Blur radius (Gaussian sigma) in pixels", 0.1, 50}},
     factory_of<Sharpen>(), kFilters});

// ---- edges --------------------------------------------------------------------------------------------------------

class Canny final : public Stage {
public:
    Canny(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)),
          low_(o.number("low")),
          high_(o.number("high")),
          aperture_(std::stoi(o.text("aperture"))),
          l2_(o.boolean("l2")),
          channels_(static_cast<int>(o.integer("channels"))) {
        if (low_ > high_) throw ConfigError(fmt::format("canny: 'low' ({}) must not exceed 'high' ({})", low_, high_));
    }
    Outcome process(Frame& frame) override {
        require_pixels(frame, "canny");
        cv::Mat gray = frame.image;
        if (frame.image.channels() != 1) {
            gray = frame.buffer(frame.image.size(), CV_8UC1, 0);
            cv::cvtColor(frame.image, gray, cv::COLOR_BGR2GRAY);
        }
        cv::Mat& edges = frame.buffer(frame.image.size(), CV_8UC1, 1);  // a second one: `gray` is still in use
        cv::Canny(gray, edges, low_, high_, aperture_, l2_);
        if (channels_ == 3) {
            cv::Mat& bgr = frame.buffer(frame.image.size(), CV_8UC3);
            cv::cvtColor(edges, bgr, cv::COLOR_GRAY2BGR);
            frame.set_image(bgr);
            frame.format = PixelFormat::bgr;
        } else {
            frame.set_image(edges);
            frame.format = PixelFormat::gray;
        }
        return Outcome::pass;
    }

private:
    double low_, high_;
    int aperture_;
    bool l2_;
    int channels_;
};

const bool declared_canny = declare_stage(
    {"canny", "Canny edge detection (colour frames are converted to gray first)",
     "- { type: canny, low: 50, high: 150 }", {.parallel = true},
     {{"low", K::number, "50", "Lower hysteresis threshold", 0, 10000},
      {"high", K::number, "150", "Upper hysteresis threshold", 0, 10000},
      {"aperture", K::choice, "3", "Sobel aperture", std::nullopt, std::nullopt, {"3", "5", "7"}},
      {"l2", K::boolean, "false", "Use the L2 norm for the gradient magnitude"},
      {"channels", K::integer, "1", "Output channels: 1 (gray) or 3 (BGR, for colour writers)", 1, 3}},
     factory_of<Canny>(), kFilters});

// ---- brightness / contrast ----------------------------------------------------------------------------------------

class BrightnessContrast final : public Stage {
public:
    BrightnessContrast(const std::string& name, const OptionValues& o)
        : Stage(render_traits(name)), brightness_(o.number("brightness")), contrast_(o.number("contrast")) {}
    Outcome process(Frame& frame) override {  // out = contrast * (in - 128) + 128 + brightness, saturated
        require_pixels(frame, "brightness_contrast");
        cv::Mat& dst = frame.buffer(frame.image.size(), frame.image.type());
        frame.image.convertTo(dst, -1, contrast_, brightness_ + 128.0 * (1.0 - contrast_));
        frame.set_image(dst);
        return Outcome::pass;
    }

private:
    double brightness_, contrast_;
};

const bool declared_brightness_contrast = declare_stage(
    {"brightness_contrast", "Adjust brightness and contrast (contrast pivots on mid-gray)",
     "- { type: brightness_contrast, brightness: 20, contrast: 1.2 }", {.parallel = true},
     {{"brightness", K::number, "0", "Added to every pixel", -255, 255},
      {"contrast", K::number, "1", "Multiplies the distance from mid-gray", 0, 10}},
     factory_of<BrightnessContrast>(), kFilters});

// ---- text and timestamps ------------------------------------------------------------------------------------------

cv::Scalar parse_color(const std::string& text) {
    static const std::pair<const char*, cv::Scalar> named[] = {
        {"white", {255, 255, 255}}, {"black", {0, 0, 0}},   {"red", {0, 0, 255}},    {"green", {0, 255, 0}},
        {"blue", {255, 0, 0}},      {"yellow", {0, 255, 255}}, {"cyan", {255, 255, 0}}, {"magenta", {255, 0, 255}}};
    for (const auto& [name, value] : named)
        if (text == name) return value;
    int b = 0, g = 0, r = 0;
    char extra = 0;
    if (std::sscanf(text.c_str(), "%d,%d,%d%c", &b, &g, &r, &extra) == 3 && b >= 0 && g >= 0 && r >= 0 && b < 256 &&
        g < 256 && r < 256)
        return cv::Scalar(b, g, r);
    throw ConfigError(fmt::format("'{}' is not a colour: use white, black, red, green, blue, yellow, cyan, magenta or "
                                  "B,G,R values such as 0,200,255",
                                  text));
}

class Text final : public Stage {
public:
    Text(const std::string& name, const OptionValues& o)
        : Stage(parallel_traits(name)),
          template_(o.text("text")),
          position_(o.text("position")),
          scale_(o.number("scale")),
          thickness_(static_cast<int>(o.integer("thickness"))),
          color_(parse_color(o.text("color"))),
          box_(o.boolean("box")) {
        validate_template(template_, "text");
    }

    void open(const StageContext& context) override {
        input_ = context.source.name;
        clock_ = context.clock;
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "text");
        thread_local std::string line;
        line = render_template(template_, TemplateFields{input_, frame, 0, false, clock_});
        int baseline = 0;
        const cv::Size size = cv::getTextSize(line, cv::FONT_HERSHEY_SIMPLEX, scale_, thickness_, &baseline);
        const int margin = 8;
        const cv::Size image = frame.image.size();
        const bool right = position_.ends_with("right");
        const bool bottom = position_.starts_with("bottom");
        const cv::Point origin(right ? image.width - size.width - margin : margin,
                               bottom ? image.height - margin - baseline : margin + size.height);
        if (box_)
            cv::rectangle(frame.image, cv::Rect(origin.x - 4, origin.y - size.height - 4, size.width + 8,
                                                size.height + baseline + 8),
                          cv::Scalar::all(0), cv::FILLED);
        cv::putText(frame.image, line, origin, cv::FONT_HERSHEY_SIMPLEX, scale_, color_, thickness_, cv::LINE_AA);
        return Outcome::pass;
    }

private:
    std::string template_, position_;
    double scale_;
    int thickness_;
    cv::Scalar color_;
    bool box_;
    const Clock* clock_ = nullptr;  // for {clock}
    std::string input_;
};

const bool declared_text = declare_stage(
    {"text", "Draw text on the frame: a template with {input}, {frame}, {time}, {clock}, {label}",
     "- { type: text, text: \"{input} {time}\", position: bottom-left }", {.parallel = true},
     {{"text", K::text, "{input} {time}", "Template; {time} is media time, {clock} wall-clock time"},
      {"position", K::choice, "top-left", "Corner", std::nullopt, std::nullopt,
       {"top-left", "top-right", "bottom-left", "bottom-right"}},
      {"scale", K::number, "0.8", "Font scale", 0.1, 10},
      {"thickness", K::integer, "2", "Stroke width in pixels", 1, 20},
      {"color", K::text, "white", "A name or B,G,R"},
      {"box", K::boolean, "true", "Draw a black box behind the text"}},
     factory_of<Text>(), kFilters});

// ---- decimate -----------------------------------------------------------------------------------------------------

class Decimate final : public Stage {
public:
    Decimate(const std::string& name, const OptionValues& o)
        : Stage({.name = name}), every_(o.integer("every")), fps_(o.number("fps")) {
        if ((every_ > 1) == (fps_ > 0)) throw ConfigError("decimate takes either 'every' (N > 1) or 'fps', not both");
    }
    Outcome process(Frame& frame) override {
        if (every_ > 1) return seen_++ % every_ == 0 ? Outcome::pass : Outcome::drop;
        // Keep a frame when it starts a new 1/fps slot of media time.
        const auto slot = static_cast<std::int64_t>(std::floor(in_seconds(frame.media_time) * fps_));
        if (slot <= last_slot_) return Outcome::drop;
        last_slot_ = slot;
        return Outcome::pass;
    }

private:
    std::int64_t every_;
    double fps_;
    std::uint64_t seen_ = 0;
    std::int64_t last_slot_ = -1;
};

const bool declared_decimate = declare_stage(
    {"decimate", "Keep every Nth frame, or thin the stream to a frame rate (by media time)",
     "- { type: decimate, fps: 5 }", {},
     {{"every", K::integer, "1", "Keep one frame in N", 1, 1000000},
      {"fps", K::number, "0", "Keep at most this many frames per second of media", 0, 1000}},
     factory_of<Decimate>(), kFilters});

}  // namespace

cv::Size ResizeParameters::output_for(cv::Size in) const {
    cv::Size out(width, height);
    if (scale != 0) {
        out = cv::Size(std::max(1, static_cast<int>(std::lround(in.width * scale))),
                       std::max(1, static_cast<int>(std::lround(in.height * scale))));
    } else if (out.width == 0) {
        out.width = std::max(1, static_cast<int>(std::lround(static_cast<double>(in.width) * out.height / in.height)));
    } else if (out.height == 0) {
        out.height = std::max(1, static_cast<int>(std::lround(static_cast<double>(in.height) * out.width / in.width)));
    }
    return out;
}

int ResizeParameters::interpolation_for(cv::Size in) const {
    if (interpolation >= 0) return interpolation;
    return output_for(in).area() < in.area() ? cv::INTER_AREA : cv::INTER_LINEAR;
}

std::optional<BlurParameters> blur_parameters(const Stage& stage) {
    if (const auto* blur = dynamic_cast<const GaussianBlur*>(&stage)) return blur->parameters();
    return std::nullopt;
}

std::optional<ResizeParameters> resize_parameters(const Stage& stage) {
    if (const auto* resize = dynamic_cast<const Resize*>(&stage)) return resize->target();
    return std::nullopt;
}

bool converts_to_gray(const Stage& stage) {
    const auto* color = dynamic_cast<const Color*>(&stage);
    return color != nullptr && color->target() == "gray";
}

}  // namespace framepipe::stages
