#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>


namespace framepipe {
namespace {

// The frame number is stored in the first 8 pixels' blue channel, one byte each, least significant first.
void stamp_counter(cv::Mat& image, std::int64_t number) {
    auto* row = image.ptr<cv::Vec3b>(0);
    const int n = std::min(8, image.cols);
    for (int i = 0; i < n; ++i) row[i] = cv::Vec3b(static_cast<uchar>((number >> (8 * i)) & 0xff), 0, 0);
}

// The number as a strip of black and white blocks along the bottom edge, large enough to survive JPEG and H.264.
constexpr int kBurnedBits = 24;
cv::Rect burned_block(int bit, cv::Size size) {
    const int h = std::max(4, size.height / 16);
    const int w = size.width / kBurnedBits;
    return {bit * w, size.height - h, w, h};
}

void draw_moving(cv::Mat& image, std::int64_t number) {
    const int w = image.cols;
    const int h = image.rows;
    // A diagonal gradient that scrolls, a box that bounces, and the frame number.
    const int shift = static_cast<int>(number * 4 % 256);
    for (int y = 0; y < h; ++y) {
        auto* row = image.ptr<cv::Vec3b>(y);
        for (int x = 0; x < w; ++x) {
            const auto v = static_cast<uchar>((x + y + shift) & 0xff);
            row[x] = cv::Vec3b(v, static_cast<uchar>(255 - v), static_cast<uchar>((x * 255) / std::max(1, w)));
        }
    }
    const int box = std::max(8, std::min(w, h) / 6);
    const int span_x = std::max(1, w - box);
    const int span_y = std::max(1, h - box);
    const int px = static_cast<int>((number * 7) % (2 * span_x));
    const int py = static_cast<int>((number * 5) % (2 * span_y));
    const cv::Point corner(px < span_x ? px : 2 * span_x - px, py < span_y ? py : 2 * span_y - py);
    cv::rectangle(image, cv::Rect(corner, cv::Size(box, box)), cv::Scalar(255, 255, 255), cv::FILLED);
    const double scale = std::max(0.4, h / 360.0);
    cv::putText(image, fmt::format("{}", number), cv::Point(10, static_cast<int>(40 * scale)),
                cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), std::max(1, static_cast<int>(2 * scale)));
    if (image.cols >= kBurnedBits * 2)
        for (int bit = 0; bit < kBurnedBits; ++bit)
            cv::rectangle(image, burned_block(bit, image.size()),
                          ((number >> bit) & 1) != 0 ? cv::Scalar::all(255) : cv::Scalar::all(0), cv::FILLED);
    stamp_counter(image, number);
}

}  // namespace

SyntheticSource::SyntheticSource(Options options) : options_(std::move(options)) {}

SourceInfo SyntheticSource::open(std::stop_token) {
    if (options_.width < 8 || options_.height < 1 || options_.width > 16384 || options_.height > 16384)
        throw ConfigError(fmt::format("synthetic: size {}x{} is out of range (width 8..16384, height 1..16384)",
                                      options_.width, options_.height));
    if (options_.frames < 0) throw ConfigError("synthetic: frames must be 0 (unlimited) or more");
    if (options_.fps < 0 || (options_.live && options_.fps <= 0))
        throw ConfigError("synthetic: fps must be positive (a live source needs a rate)");
    SourceInfo info;
    info.name = options_.name;
    info.live = options_.live;
    info.fps = options_.fps;
    info.size = cv::Size(options_.width, options_.height);
    if (options_.frames > 0) info.frame_count = options_.frames;
    produced_ = 0;
    live_start_ = clock().now();
    return info;
}

ReadResult SyntheticSource::read(Frame& frame, std::stop_token stop) {
    if (stop.stop_requested() || (options_.frames > 0 && produced_ >= options_.frames)) return ReadResult::end_of_stream;
    std::int64_t number = produced_++;
    if (options_.live) {  // like a camera: the next frame exists at its time, not before
        // ... and frames exist on the camera's clock whether or not anyone reads them: a reader more than a frame late
        // gets the newest one, and the frames it missed are a gap in the numbering (counted as skipped by the source).
        // The camera's clock starts at the first read, not at open (the pipeline opens its stages in between).
        const Clock& clock = this->clock();
        if (number == 0) live_start_ = clock.now();
        const auto elapsed = std::chrono::duration<double>(clock.now() - live_start_).count();
        auto newest = static_cast<std::int64_t>(elapsed * options_.fps);
        if (options_.frames > 0) newest = std::min(newest, options_.frames - 1);
        if (newest > number) {
            number = newest;
            produced_ = number + 1;
        }
        const TimePoint due = live_start_ + std::chrono::duration_cast<Duration>(
                                                std::chrono::duration<double>(static_cast<double>(number) / options_.fps));
        if (!clock.sleep_until(due, stop)) return ReadResult::end_of_stream;
    }
    frame.prepare_image(cv::Size(options_.width, options_.height), CV_8UC3);
    if (options_.pattern == Pattern::counter)
        stamp_counter(frame.image, number);
    else
        draw_moving(frame.image, number);
    if (options_.live) frame.source_number = number;
    if (options_.fps > 0)
        frame.media_time = std::chrono::duration_cast<Duration>(
            std::chrono::duration<double>(static_cast<double>(number) / options_.fps));
    return ReadResult::frame;
}

std::int64_t SyntheticSource::counter_of(const cv::Mat& image) {
    if (image.empty() || image.type() != CV_8UC3 || image.cols < 8) return -1;
    const auto* row = image.ptr<cv::Vec3b>(0);
    std::int64_t number = 0;
    for (int i = 0; i < 8; ++i) number |= static_cast<std::int64_t>(row[i][0]) << (8 * i);
    return number;
}

}  // namespace framepipe

namespace framepipe {

std::int64_t SyntheticSource::burned_number_of(const cv::Mat& image) {
    if (image.empty() || image.type() != CV_8UC3 || image.cols < kBurnedBits * 2) return -1;
    std::int64_t number = 0;
    for (int bit = 0; bit < kBurnedBits; ++bit) {
        const cv::Rect r = burned_block(bit, image.size());
        const cv::Rect inner(r.x + r.width / 4, r.y + r.height / 4, std::max(1, r.width / 2), std::max(1, r.height / 2));
        const double mean = cv::mean(image(inner))[1];
        if (mean > 170) number |= std::int64_t{1} << bit;
        else if (mean > 85) return -1;  // neither black nor white: not a burned-in number
    }
    return number;
}

}  // namespace framepipe

// ---- declaration ----------------------------------------------------------------------------------------------------

namespace framepipe {
namespace {

using K = OptionKind;
const bool synthetic_source_declared = declare_source({
    .type = "synthetic",
    .summary = "A test pattern with the frame number burned in (no camera or file needed); synthetic:NAME names one",
    .example = "framepipe run p.yaml synthetic synthetic:front synthetic:back",
    .runs_on = "source thread",
    .options = {{"width", K::integer, "640", "Frame width", 8, 16384},
                {"height", K::integer, "360", "Frame height", 1, 16384},
                {"frames", K::integer, "300", "Frames to produce; 0 = until stopped", 0, 1e12},
                {"fps", K::number, "30", "Frame rate (media time; with live, also real time)", 0, 1000},
                {"live", K::boolean, "false", "Produce frames at fps like a camera, never waiting"},
                {"pattern", K::choice, "moving", "moving (picture) or counter (cheapest)", std::nullopt, std::nullopt,
                 {"moving", "counter"}}},
    .claims = [](const std::string& input) { return input == "synthetic" || input.rfind("synthetic:", 0) == 0 ? 50 : 0; },
    .make =
        [](const SourceInput& input, const OptionValues& o) {
            SyntheticSource::Options s;
            s.width = static_cast<int>(o.integer("width"));
            s.height = static_cast<int>(o.integer("height"));
            s.frames = o.integer("frames");
            s.fps = o.number("fps");
            s.live = o.boolean("live");
            s.pattern = o.text("pattern") == "counter" ? SyntheticSource::Pattern::counter : SyntheticSource::Pattern::moving;
            if (input.path.rfind("synthetic:", 0) == 0 && input.path.size() > 10) s.name = input.path.substr(10);
            if (!input.name.empty()) s.name = input.name;
            return std::unique_ptr<Source>(std::make_unique<SyntheticSource>(s));
        },
    .list_order = 300,
});

}  // namespace
}  // namespace framepipe
