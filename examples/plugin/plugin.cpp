// An example framepipe plugin: one stage type and one source type, declared exactly as framepipe's own are.
//
//   invert   a stage: every pixel becomes 255 minus itself (a photographic negative)
//   solid    a source: frames of one gray level, for inputs written solid:NAME
//
// Build it as a shared library linked to framepipe (CMakeLists.txt here), then:
//
//   framepipe run --plugin libframepipe_example_plugin.so examples/plugin/pipeline.yaml
//
// or name it in the pipeline file: `plugins: [path/to/libframepipe_example_plugin.so]`.
#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>

#include <opencv2/core.hpp>

#include <memory>
#include <string>

FRAMEPIPE_PLUGIN()

namespace {

using framepipe::OptionKind;

// ---- invert -----------------------------------------------------------------------------------------------------------

class Invert final : public framepipe::Stage {
public:
    explicit Invert(const std::string& name) : Stage({.name = name, .parallel = true}) {}

    framepipe::Outcome process(framepipe::Frame& frame) override {
        if (frame.format != framepipe::PixelFormat::bgr && frame.format != framepipe::PixelFormat::gray)
            throw framepipe::BadFrame("invert needs decoded pixels");
        cv::bitwise_not(frame.image, frame.image);
        return framepipe::Outcome::pass;
    }
};

const bool invert_declared = framepipe::declare_stage({
    .type = "invert",
    .summary = "Photographic negative: every pixel becomes 255 minus itself (example plugin)",
    .example = "- { type: invert }",
    .traits = {.parallel = true},
    .options = {},
    .make = [](const std::string& name, const framepipe::OptionValues&) { return std::make_unique<Invert>(name); },
});

// ---- solid ------------------------------------------------------------------------------------------------------------

class Solid final : public framepipe::Source {
public:
    Solid(std::string name, const framepipe::OptionValues& o)
        : name_(std::move(name)),
          size_(static_cast<int>(o.integer("width")), static_cast<int>(o.integer("height"))),
          frames_(o.integer("frames")),
          level_(static_cast<int>(o.integer("level"))) {}

    framepipe::SourceInfo open(std::stop_token) override {
        produced_ = 0;
        framepipe::SourceInfo info;
        info.name = name_;
        info.size = size_;
        info.fps = 25;
        info.frame_count = frames_;
        return info;
    }

    framepipe::ReadResult read(framepipe::Frame& frame, std::stop_token stop) override {
        if (stop.stop_requested() || produced_ >= frames_) return framepipe::ReadResult::end_of_stream;
        frame.prepare_image(size_, CV_8UC3).setTo(cv::Scalar::all(level_));
        frame.media_time = std::chrono::milliseconds(40) * produced_++;
        return framepipe::ReadResult::frame;
    }

private:
    std::string name_;
    cv::Size size_;
    std::int64_t frames_;
    int level_;
    std::int64_t produced_ = 0;
};

const bool solid_declared = framepipe::declare_source({
    .type = "solid",
    .summary = "Frames of one gray level, for inputs written solid:NAME (example plugin)",
    .example = "framepipe run p.yaml solid:dark solid:light",
    .runs_on = "source thread",
    .options = {{"level", OptionKind::integer, "128", "Gray level of every pixel", 0, 255},
                {"frames", OptionKind::integer, "25", "Frames to produce", 1, 1000000},
                {"width", OptionKind::integer, "320", "Frame width", 1, 16384},
                {"height", OptionKind::integer, "240", "Frame height", 1, 16384}},
    .claims = [](const std::string& input) { return input.rfind("solid:", 0) == 0 ? 50 : 0; },
    .make =
        [](const framepipe::SourceInput& input, const framepipe::OptionValues& o) {
            const std::string name = !input.name.empty() ? input.name : input.path.substr(input.path.find(':') + 1);
            if (name.empty()) throw framepipe::ConfigError("solid: write solid:NAME, e.g. solid:gray");
            return std::unique_ptr<framepipe::Source>(std::make_unique<Solid>(name, o));
        },
});

}  // namespace
