// Thumbnails and contact sheets. Both pass every frame on unchanged; they write files on a dedicated thread.
#include "stage_support.hpp"

#include "image_output.hpp"
#include "reads_some_pictures.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <optional>

namespace framepipe::stages {
namespace {

StageTraits writer_traits(const std::string& name) {
    return {.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true};
}

double sharpness(const cv::Mat& image) {  // variance of the Laplacian of a 256-wide gray copy
    cv::Mat resized, gray, laplacian;
    small_gray(image, 256, resized, gray);
    cv::Laplacian(gray, laplacian, CV_32F);
    cv::Scalar mean, stddev;
    cv::meanStdDev(laplacian, mean, stddev);
    return stddev[0] * stddev[0];
}

cv::Mat histogram_of(const cv::Mat& image) {  // 3 x 32 bins of a small copy, normalised
    cv::Mat small;
    cv::resize(image, small, cv::Size(64, std::max(1, image.rows * 64 / std::max(1, image.cols))), 0, 0, cv::INTER_AREA);
    cv::Mat hist(1, 96, CV_32F, cv::Scalar(0));
    const int channels = small.channels();
    for (int y = 0; y < small.rows; ++y) {
        const uchar* row = small.ptr<uchar>(y);
        for (int x = 0; x < small.cols; ++x)
            for (int c = 0; c < std::min(channels, 3); ++c) hist.at<float>(c * 32 + row[x * channels + c] / 8) += 1;
    }
    return hist / static_cast<float>(small.total());
}

class Thumbnail final : public Stage, public ReadsSomePictures {
public:
    enum class Mode { every, interval, scene, sharpest, representative };

    Thumbnail(const std::string& name, const OptionValues& o)
        : Stage(writer_traits(name)),
          name_template_(o.text("file")),
          width_(static_cast<int>(o.integer("width"))),
          max_(o.integer("max")),
          dir_(o.text("dir")),
          quality_(static_cast<int>(o.integer("quality"))),
          overwrite_(o.boolean("overwrite")) {
        int modes = 0;
        if (o.integer("every") > 0) mode_ = Mode::every, every_ = o.integer("every"), ++modes;
        if (o.has("interval")) mode_ = Mode::interval, interval_ = o.duration("interval"), ++modes;
        if (o.number("scene") > 0) mode_ = Mode::scene, scene_ = o.number("scene"), ++modes;
        if (o.text("best") != "none") {
            mode_ = o.text("best") == "sharpest" ? Mode::sharpest : Mode::representative;
            window_ = o.duration("window");
            ++modes;
        }
        if (modes != 1)
            throw ConfigError("thumbnail: choose exactly one of every (N frames), interval (media time), scene "
                              "(threshold) or best (sharpest or representative per window)");
        if ((mode_ == Mode::interval && interval_ <= Duration::zero()) ||
            ((mode_ == Mode::sharpest || mode_ == Mode::representative) && window_ <= Duration::zero()))
            throw ConfigError("thumbnail: interval and window must be longer than 0");
        output_.emplace(dir_, name_template_, quality_, overwrite_);
    }

    void open(const StageContext& context) override {
        input_ = context.source.name;
        clock_ = context.clock;
        output_->prepare(input_);
    }

    // every and interval pick frames by their place and time alone: the planner may leave the others' pictures unmade.
    [[nodiscard]] bool reads_some_pictures() const override {
        return (mode_ == Mode::every && every_ >= 2) || mode_ == Mode::interval;
    }
    [[nodiscard]] bool reads_picture_of(const Frame& frame) const override {
        if (max_ > 0 && static_cast<std::int64_t>(written_) >= max_) return false;  // done: writes nothing more
        switch (mode_) {
            case Mode::every:
                return seen_ % every_ == 0;
            case Mode::interval:
                return !next_due_ || frame.media_time >= *next_due_;
            default:
                return true;
        }
    }
    void pass_unread(const Frame&) override {
        if (mode_ == Mode::every) ++seen_;
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "thumbnail");
        switch (mode_) {
            case Mode::every:
                if (reads_picture_of(frame)) write(frame.image, frame);
                ++seen_;
                break;
            case Mode::interval:
                if (reads_picture_of(frame)) {
                    write(frame.image, frame);
                    const Duration base = next_due_.value_or(frame.media_time);
                    next_due_ = base + interval_ * (1 + (frame.media_time - base) / interval_);
                }
                break;
            case Mode::scene: {
                small_gray(frame.image, 64, resized_, current_);
                const bool first = previous_.empty();
                const bool changed = !first && current_.size() == previous_.size() &&
                                     cv::norm(current_, previous_, cv::NORM_L1) / (255.0 * current_.total()) > scene_;
                if (first || changed || current_.size() != previous_.size()) write(frame.image, frame);
                std::swap(previous_, current_);
                break;
            }
            case Mode::sharpest:
            case Mode::representative:
                window_frame(frame);
                break;
        }
        return Outcome::pass;
    }

    void close() override {
        if (mode_ == Mode::sharpest || mode_ == Mode::representative) finish_window();
        spdlog::info("{}: {}: wrote {} thumbnail(s) to {}{}", input_, traits().name, written_, output_->dir(),
                     output_->renamed() > 0
                         ? fmt::format(" ({} with a -N suffix: their names were taken by other frames)", output_->renamed())
                         : "");
    }

private:
    struct Candidate {
        cv::Mat image;
        cv::Mat histogram;
        std::uint64_t sequence;
        Duration media_time;
        std::string label;
    };

    void window_frame(const Frame& frame) {
        if (!window_start_) window_start_ = frame.media_time;
        if (frame.media_time >= *window_start_ + window_) {
            finish_window();
            window_start_ = *window_start_ + window_ * ((frame.media_time - *window_start_) / window_);
        }
        if (mode_ == Mode::sharpest) {
            const double score = sharpness(frame.image);
            if (candidates_.empty() || score > best_score_) {
                best_score_ = score;
                candidates_.assign(1, keep(frame, cv::Mat()));
            }
            return;
        }
        // representative: the frame whose colour histogram is closest to the window's average (FFmpeg's thumbnail
        // filter does the same). Every frame adds to the average; at most kCandidates are kept as pictures.
        cv::Mat histogram = histogram_of(frame.image);
        sum_ = sum_.empty() ? histogram.clone() : sum_ + histogram;
        ++window_frames_;
        if (candidates_.size() < kCandidates) {
            candidates_.push_back(keep(frame, histogram));
        } else if (window_frames_ % 2 == 0) {  // full: thin out by half and keep sampling at half the rate
            std::vector<Candidate> thinned;
            for (std::size_t i = 0; i < candidates_.size(); i += 2) thinned.push_back(std::move(candidates_[i]));
            candidates_ = std::move(thinned);
            candidates_.push_back(keep(frame, histogram));
        }
    }

    Candidate keep(const Frame& frame, const cv::Mat& histogram) {
        return {scaled_to_width(frame.image, width_, scaled_).clone(), histogram, frame.sequence, frame.media_time,
                frame.label};
    }

    void finish_window() {
        if (candidates_.empty()) return;
        std::size_t chosen = 0;
        if (mode_ == Mode::representative) {
            const cv::Mat average = sum_ / static_cast<float>(std::max<std::uint64_t>(window_frames_, 1));
            double best = 1e300;
            for (std::size_t i = 0; i < candidates_.size(); ++i) {
                const double distance = cv::norm(candidates_[i].histogram, average, cv::NORM_L2SQR);
                if (distance < best) best = distance, chosen = i;
            }
        }
        Frame carrier;  // only for the file name template
        carrier.sequence = candidates_[chosen].sequence;
        carrier.media_time = candidates_[chosen].media_time;
        carrier.label = candidates_[chosen].label;
        write_file(candidates_[chosen].image, carrier);
        candidates_.clear();
        sum_.release();
        window_frames_ = 0;
    }

    void write(const cv::Mat& image, const Frame& frame) { write_file(scaled_to_width(image, width_, scaled_), frame); }

    void write_file(const cv::Mat& image, const Frame& frame) {
        if (max_ > 0 && static_cast<std::int64_t>(written_) >= max_) return;
        output_->write(image, render_template(name_template_, {input_, frame, written_, true, clock_}));
        ++written_;
    }

    static constexpr std::size_t kCandidates = 32;
    Mode mode_ = Mode::every;
    std::int64_t every_ = 0;
    Duration interval_{};
    double scene_ = 0;
    Duration window_{};
    std::string name_template_;
    int width_;
    std::int64_t max_;
    std::string dir_;
    int quality_;
    bool overwrite_;
    std::optional<ImageOutput> output_;
    std::string input_;
    const Clock* clock_ = nullptr;  // calendar time for {clock} and names (StageContext::clock)
    std::uint64_t seen_ = 0;
    std::uint64_t written_ = 0;
    std::optional<Duration> next_due_;
    cv::Mat resized_, previous_, current_;
    cv::Mat scaled_;
    std::optional<Duration> window_start_;
    std::vector<Candidate> candidates_;
    double best_score_ = 0;
    cv::Mat sum_;
    std::uint64_t window_frames_ = 0;
};

// A grid of frames spread evenly over an input: one sheet, written when the input ends; or, with `every`, one sheet per
// period of that length, written as soon as the period is over (when the first frame of the next one arrives) and the
// partial last period's at the end or stop. Memory: at most 2 x tiles small tiles, of one period.
//
// Periods run on the frames' own time, consistently per kind of input:
//   - files: media time from 0, [0, every), [every, 2 every) ... of the video;
//   - live inputs: the calendar time of each frame's capture (Clock::wall_time of capture_time on the run's clock),
//     aligned to local time (every: 1h gives 07:00-08:00, every: 1d midnight to midnight). A live input's media time
//     restarts with every run and reconnect, so it cannot place a period in a camera's weeks.
// A period without frames (signal lost all along) gets no sheet.
//
// Names with `every`: a file template naming no period ({time}, {clock} or {index}) gets one before its extension,
// _{time} for files ("holiday_sheet_00-01-00.000.jpg") or _{clock} for live inputs ("cam_sheet_20261121-070000.jpg").
// {time} is the period's start in media time (files), {clock} the local calendar time it started (live inputs),
// {index} the sheet's number in this run, from 0.
class ContactSheet final : public Stage {
public:
    ContactSheet(const std::string& name, const OptionValues& o)
        : Stage(writer_traits(name)),
          columns_(static_cast<int>(o.integer("columns"))),
          tiles_(static_cast<std::size_t>(o.integer("tiles"))),
          tile_width_(static_cast<int>(o.integer("tile_width"))),
          timestamps_(o.boolean("timestamps")),
          every_(o.has("every") ? o.duration("every") : Duration::zero()),
          name_template_(o.text("file")),
          dir_(o.text("dir")),
          quality_(static_cast<int>(o.integer("quality"))),
          overwrite_(o.boolean("overwrite")) {
        output_.emplace(dir_, name_template_, quality_, overwrite_);  // checks the template
    }

    void open(const StageContext& context) override {
        input_ = context.source.name;
        clock_ = context.clock;
        live_ = context.source.live;
        if (periodic()) {
            name_template_ = periodic_template(name_template_, live_);
            output_.emplace(dir_, name_template_, quality_, overwrite_);
        }
        output_->prepare(input_);
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "contact_sheet");
        if (periodic()) {
            const Period period = period_of(frame);
            if (period_ && period.number != period_->number) write_sheet();  // the period is over
            if (!period_) period_ = period;
        }
        sample(frame);
        return Outcome::pass;
    }

    void close() override {
        if (!kept_.empty()) write_sheet();
        if (sheets_ == 0) spdlog::warn("{}: {}: no frames, so no contact sheet", input_, traits().name);
    }

private:
    struct Tile {
        cv::Mat image;
        std::string label;
    };
    struct Period {
        std::int64_t number = 0;                       // floor(time / every)
        Duration media_start{};                        // files: where it starts in the media
        std::chrono::system_clock::time_point wall{};  // live inputs: the calendar time it starts
    };

    [[nodiscard]] bool periodic() const noexcept { return every_ > Duration::zero(); }

    /// The template itself when it names the period; else with _{time} (files) or _{clock} (live) before its extension.
    static std::string periodic_template(const std::string& text, bool live) {
        if (template_uses(text, "time") || template_uses(text, "clock") || template_uses(text, "index")) return text;
        const std::size_t dot = text.rfind('.');  // the template ends in a checked image extension
        return text.substr(0, dot) + (live ? "_{clock}" : "_{time}") + text.substr(dot);
    }

    static std::int64_t floor_div(std::int64_t a, std::int64_t b) {
        return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
    }

    [[nodiscard]] const Clock& clock() const { return clock_ != nullptr ? *clock_ : default_clock(); }

    [[nodiscard]] Period period_of(const Frame& frame) const {
        const std::int64_t every = every_.count();
        Period period;
        if (!live_) {
            period.number = floor_div(frame.media_time.count(), every);
            period.media_start = Duration{period.number * every};
            return period;
        }
        const auto wall = clock().wall_time(frame.capture_time);
        const std::int64_t offset = std::chrono::duration_cast<Duration>(utc_offset(wall)).count();
        const std::int64_t local = std::chrono::duration_cast<Duration>(wall.time_since_epoch()).count() + offset;
        period.number = floor_div(local, every);
        period.wall = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(Duration{period.number * every - offset}));
        return period;
    }

    /// Keeps every stride-th frame; when twice the tiles are kept, drops every other one and doubles the stride. So
    /// the samples stay spread over the whole input (period) without knowing its length, in bounded memory.
    void sample(const Frame& frame) {
        if (seen_++ % stride_ != 0) return;
        Tile tile;
        const int height = std::max(
            1, static_cast<int>(std::lround(static_cast<double>(frame.image.rows) * tile_width_ / frame.image.cols)));
        cv::Mat resized;
        cv::resize(frame.image, resized, cv::Size(tile_width_, height), 0, 0, cv::INTER_AREA);
        if (resized.channels() == 1) cv::cvtColor(resized, resized, cv::COLOR_GRAY2BGR);
        tile.image = resized;
        if (timestamps_)  // a live input's periods are times of day: its tiles say when they were captured
            tile.label = periodic() && live_
                             ? fmt::format("{:%H:%M:%S}", fmt::localtime(std::chrono::system_clock::to_time_t(
                                                              clock().wall_time(frame.capture_time))))
                             : format_media_time(frame.media_time);
        kept_.push_back(std::move(tile));
        if (kept_.size() >= 2 * tiles_) {
            std::vector<Tile> thinned;
            for (std::size_t i = 0; i < kept_.size(); i += 2) thinned.push_back(std::move(kept_[i]));
            kept_ = std::move(thinned);
            stride_ *= 2;
        }
    }

    /// Writes the sheet of the tiles kept (of the input, or of the current period) and starts afresh.
    void write_sheet() {
        if (!kept_.empty()) {
            Frame carrier;  // only for the file name template
            TemplateFields fields{input_, carrier, sheets_, true, clock_};
            if (period_ && live_) fields.wall = period_->wall;
            if (period_ && !live_) carrier.media_time = period_->media_start;
            const cv::Mat sheet = compose();
            const std::string file = output_->write(sheet, render_template(name_template_, fields));
            ++sheets_;
            spdlog::info("{}: {}: wrote a contact sheet of {} tile(s) to {}/{}", input_, traits().name,
                         std::min(tiles_, kept_.size()), output_->dir(), file);
        }
        kept_.clear();
        seen_ = 0;
        stride_ = 1;
        period_.reset();
    }

    [[nodiscard]] cv::Mat compose() const {
        std::vector<const Tile*> chosen;
        const std::size_t n = std::min(tiles_, kept_.size());
        for (std::size_t i = 0; i < n; ++i) chosen.push_back(&kept_[i * kept_.size() / n]);
        const int rows = static_cast<int>((chosen.size() + columns_ - 1) / columns_);
        const int cols = static_cast<int>(std::min<std::size_t>(columns_, chosen.size()));
        const int tile_height = chosen.front()->image.rows;
        const int gap = 4;
        cv::Mat sheet(rows * (tile_height + gap) + gap, cols * (tile_width_ + gap) + gap, CV_8UC3, cv::Scalar(32, 32, 32));
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            const int r = static_cast<int>(i) / columns_;
            const int c = static_cast<int>(i) % columns_;
            const cv::Rect cell(gap + c * (tile_width_ + gap), gap + r * (tile_height + gap), tile_width_,
                                std::min(tile_height, chosen[i]->image.rows));
            chosen[i]->image(cv::Rect(0, 0, cell.width, cell.height)).copyTo(sheet(cell));
            if (timestamps_) {
                const std::string& label = chosen[i]->label;
                const double scale = std::max(0.35, tile_width_ / 640.0);
                int baseline = 0;
                const cv::Size size = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
                const cv::Point at(cell.x + 4, cell.y + cell.height - 4 - baseline);
                cv::rectangle(sheet, cv::Rect(at.x - 2, at.y - size.height - 2, size.width + 4, size.height + baseline + 4),
                              cv::Scalar(0, 0, 0), cv::FILLED);
                cv::putText(sheet, label, at, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
            }
        }
        return sheet;
    }

    int columns_;
    std::size_t tiles_;
    int tile_width_;
    bool timestamps_;
    Duration every_;  // zero: one sheet per input
    std::string name_template_;
    std::string dir_;
    int quality_;
    bool overwrite_;
    std::optional<ImageOutput> output_;
    std::string input_;
    const Clock* clock_ = nullptr;  // calendar time for {clock}, names and live periods (StageContext::clock)
    bool live_ = false;
    std::optional<Period> period_;  // the period being collected (with every)
    std::uint64_t sheets_ = 0;
    std::uint64_t seen_ = 0;
    std::uint64_t stride_ = 1;
    std::vector<Tile> kept_;
};

std::vector<OptionSpec> output_options(const char* dir, const char* name) {
    using K = OptionKind;
    return {{"dir", K::text, dir, "Output folder (created if missing)"},
            {"file", K::text, name, "File name template; the extension picks JPEG, PNG or WebP (fields: see 'text')"},
            {"quality", K::integer, "90", "JPEG/WebP quality (PNG: 100 = fastest, less compression)", 1, 100},
            {"overwrite", K::boolean, "false",
             "Replace existing files; without it, a folder holding files of this name pattern is refused at start"}};
}

// The declarations of this file's stage types (listed after filters).
const bool thumbnails_declared = [] {
    using K = OptionKind;
    std::vector<OptionSpec> thumbnail = {
        {"every", K::integer, "0", "One thumbnail every N frames", 0, 1e9},
        {"interval", K::duration, "", "One thumbnail per interval of media time (e.g. 2s)", 0.001, 86400},
        {"scene", K::number, "0", "On a scene change bigger than this share of the picture (0.3 is a good start)", 0, 1},
        {"best", K::choice, "none", "The best frame of each window: sharpest, or most representative", std::nullopt,
         std::nullopt, {"none", "sharpest", "representative"}},
        {"window", K::duration, "5s", "Window for best", 0.001, 86400},
        {"width", K::integer, "0", "Thumbnail width (height follows); 0 keeps the frame's size", 0, 8192},
        {"max", K::integer, "0", "At most this many per input; 0 = no limit", 0, 1e9}};
    for (auto& o : output_options("thumbnails", "{input}_{frame:06}.jpg")) thumbnail.push_back(o);
    (void)declare_stage({"thumbnail", "Write selected frames as images: every N frames, every T seconds, on scene changes, "
                                    "or the best of each window. Frames pass on unchanged.",
                       "- { type: thumbnail, interval: 2s, dir: thumbs }", {.needs_ordered_input = true, .blocking_io = true}, thumbnail,
                       factory_of<Thumbnail>(), 200});
    std::vector<OptionSpec> sheet = {
        {"columns", K::integer, "4", "Tiles per row", 1, 50},
        {"tiles", K::integer, "16", "Frames on the sheet, spread evenly over the input", 1, 1000},
        {"tile_width", K::integer, "320", "Width of each tile", 16, 4096},
        {"timestamps", K::boolean, "true",
         "Print each tile's time on it: its media time; with every on a live input, the time of day it was captured"},
        {"every", K::duration, "",
         "One sheet per period of this length (e.g. 1h), written as soon as it is over, for inputs that never end: "
         "files by media time, live inputs by local calendar time of capture (1h: 07:00-08:00). The name gets the "
         "period's start before its extension (cam_sheet_20261121-070000.jpg, clip_sheet_00-01-00.000.jpg) unless "
         "'file' has {time}, {clock} or {index}. Unset: one sheet per input",
         1, 366 * 86400}};
    for (auto& o : output_options("thumbnails", "{input}_sheet.jpg")) sheet.push_back(o);
    (void)declare_stage({"contact_sheet", "A grid picture of frames spread evenly over the input, written when the "
                                        "input ends; or, with every, one per period (every: 1h), written as each "
                                        "period ends. Frames pass on unchanged.",
                       "- { type: contact_sheet, columns: 4, tiles: 16, every: 1h, dir: sheets }",
                       {.needs_ordered_input = true, .blocking_io = true}, sheet,
                       factory_of<ContactSheet>(), 200});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
