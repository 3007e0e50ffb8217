// still: one picture delivered as a video of N frames at a frame rate ("still:cover.jpg"), to try a pipeline meant for
// video on a photo, or to feed a live pipeline a fixed test card (live: true paces it like a camera).
#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include <chrono>

namespace framepipe {
namespace {

class StillSource final : public Source {
public:
    StillSource(const SourceInput& input, const OptionValues& o)
        : path_(input.path.substr(6)), name_(input.name.empty() ? path_ : input.name), frames_(o.integer("frames")),
          fps_(o.number("fps")), live_(o.boolean("live")) {}

    SourceInfo open(std::stop_token) override {
        picture_ = cv::imread(path_, cv::IMREAD_COLOR);
        if (picture_.empty()) throw ConfigError(fmt::format("still: cannot read '{}' as an image", path_));
        produced_ = 0;
        SourceInfo info{.name = name_, .live = live_, .fps = fps_, .size = picture_.size(), .path = path_};
        info.frame_count = frames_;
        return info;
    }

    ReadResult read(Frame& frame, std::stop_token stop) override {
        if (stop.stop_requested() || produced_ >= frames_) return ReadResult::end_of_stream;
        const Duration at = duration_from_seconds(static_cast<double>(produced_) / fps_);
        if (live_ && produced_ == 0) start_ = std::chrono::steady_clock::now();
        if (live_ && !sleep_until(start_ + at, stop)) return ReadResult::end_of_stream;
        picture_.copyTo(frame.prepare_image(picture_.size(), CV_8UC3));
        frame.media_time = at;
        ++produced_;
        return ReadResult::frame;
    }

private:
    std::string path_, name_;
    std::int64_t frames_;
    double fps_;
    bool live_;
    cv::Mat picture_;
    std::int64_t produced_ = 0;
    std::chrono::steady_clock::time_point start_;
};

using K = OptionKind;
const bool declared = declare_source({
    .type = "still",
    .summary = "One picture as a video of N frames: still:PATH (e.g. a test card for a live pipeline)",
    .example = "framepipe run p.yaml still:cover.jpg still:card.png",
    .runs_on = "source thread",
    .options = {{"frames", K::integer, "300", "Frames to deliver", 1, 1e9},
                {"fps", K::number, "30", "Frame rate (media time; with live, also real time)", 0.01, 1000},
                {"live", K::boolean, "false", "Deliver at fps like a camera"}},
    .claims = [](const std::string& input) { return input.rfind("still:", 0) == 0 ? 50 : 0; },
    .make = [](const SourceInput& input, const OptionValues& o) -> std::unique_ptr<Source> {
        return std::make_unique<StillSource>(input, o);
    },
    .list_order = 400,
});

}  // namespace
}  // namespace framepipe
