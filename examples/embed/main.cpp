// embed [VIDEO ...]: runs each video (or, with none, a synthetic test pattern) through a catalogue stage (resize) and a
// stage of this program's own that measures each frame's brightness, then prints the run's summary and the darkest and
// brightest frame of each input. Exits 0 when every input ran to its end and every frame is accounted for.
#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/report.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <string>

namespace {

/// What Brightness found in one input.
struct BrightnessStats {
    std::uint64_t frames = 0;
    double darkest = 256;
    double brightest = -1;
    std::uint64_t darkest_frame = 0;
    std::uint64_t brightest_frame = 0;
};

/// A stage of the program's own: the mean brightness (0..255) of each BGR frame, recorded in `stats`. Serial, so
/// `stats` needs no lock; each input's chain gets its own instance and its own stats. Frames pass unchanged.
class Brightness final : public framepipe::Stage {
public:
    explicit Brightness(BrightnessStats& stats) : Stage({.name = "brightness"}), stats_(stats) {}

    framepipe::Outcome process(framepipe::Frame& frame) override {
        if (frame.format != framepipe::PixelFormat::bgr || frame.image.empty()) {
            throw framepipe::BadFrame("brightness: needs BGR pixels");
        }
        cv::cvtColor(frame.image, gray_, cv::COLOR_BGR2GRAY);
        const double mean = cv::mean(gray_)[0];
        if (mean < stats_.darkest) {
            stats_.darkest = mean;
            stats_.darkest_frame = frame.sequence;
        }
        if (mean > stats_.brightest) {
            stats_.brightest = mean;
            stats_.brightest_frame = frame.sequence;
        }
        ++stats_.frames;
        return framepipe::Outcome::pass;
    }

private:
    BrightnessStats& stats_;
    cv::Mat gray_;
};

}  // namespace

int main(int argc, char** argv) {
    try {
        framepipe::Pipeline pipeline;
        std::deque<BrightnessStats> stats;  // one per input; a deque keeps references valid as it grows
        auto add_input = [&](std::unique_ptr<framepipe::Source> source) {
            stats.emplace_back();
            pipeline.add_source(std::move(source))
                .add(framepipe::make_stage("resize", {{"width", "320"}}))
                .add(std::make_unique<Brightness>(stats.back()));
        };
        if (argc < 2) {
            add_input(std::make_unique<framepipe::SyntheticSource>(framepipe::SyntheticSource::Options{.frames = 90}));
        }
        for (int i = 1; i < argc; ++i) {
            add_input(std::make_unique<framepipe::VideoSource>(framepipe::VideoSource::Options{.path = argv[i]}));
        }

        const framepipe::RunReport report = pipeline.run();
        std::fputs(framepipe::format_summary(report).c_str(), stdout);
        for (std::size_t i = 0; i < stats.size() && i < report.sources.size(); ++i) {
            const BrightnessStats& s = stats[i];
            if (s.frames == 0) continue;
            std::printf("%s: %llu frames, darkest #%llu (%.1f), brightest #%llu (%.1f)\n",
                        report.sources[i].name.c_str(), static_cast<unsigned long long>(s.frames),
                        static_cast<unsigned long long>(s.darkest_frame), s.darkest,
                        static_cast<unsigned long long>(s.brightest_frame), s.brightest);
        }
        return report.ok() && report.balanced() ? 0 : 1;
    } catch (const framepipe::ConfigError& e) {
        std::fprintf(stderr, "embed: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "embed: %s\n", e.what());
        return 1;
    }
}
