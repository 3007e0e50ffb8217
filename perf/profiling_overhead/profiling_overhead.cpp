// What profiling costs: the same jobs with PipelineOptions::profile on and off, interleaved in one run (on, off, on,
// off ...; best of each), so drift on a shared machine hits both alike.
//
//   profiling_overhead [MEDIA_DIR]
//
//   pass-through   5 stages that only touch the frame, pooled 1080p BGR frames (the engine's own cost per frame),
//                  as profiling runs by default (frames come faster than PipelineOptions::profile_spacing, so about
//                  one per spacing is timed) and timing every frame (profile_spacing zero)
//   thumbnails     the video job: two 1080p H.264 inputs, blur 5x5, resize to 320, a JPEG every 30th frame
// Goal: profiling costs less than 2% of throughput on the video job and less than 10% on pass-through.
#include "../common/measure.hpp"
#include "../common/media.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <filesystem>

using namespace framepipe;

namespace {

class PassThrough final : public Stage {
public:
    explicit PassThrough(int index) : Stage({.name = fmt::format("pass{}", index + 1)}) {}
    Outcome process(Frame& frame) override {
        frame.image.data[0] = static_cast<uchar>(frame.sequence);
        return Outcome::pass;
    }
};

double passthrough_fps(bool profile, std::uint64_t frames, bool every_frame) {
    PipelineOptions options{.profile = profile};
    if (every_frame) options.profile_spacing = {};
    Pipeline pipeline(options);
    Chain& chain = pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
        .width = 1920, .height = 1080, .frames = static_cast<std::int64_t>(frames), .fps = 0,
        .pattern = SyntheticSource::Pattern::counter}));
    for (int i = 0; i < 5; ++i) chain.add(std::make_unique<PassThrough>(i));
    const perf::Timing t = perf::measure([&] { (void)pipeline.run(); });
    return static_cast<double>(frames) / t.wall_s;
}

double thumbnails_fps(bool profile, const std::vector<std::string>& inputs, const std::string& out) {
    std::filesystem::remove_all(out);
    Pipeline pipeline({.profile = profile});
    for (const std::string& input : inputs)
        pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}))
            .add(make_stage("blur", {{"ksize", "5"}}))
            .add(make_stage("resize", {{"width", "320"}, {"interpolation", "area"}}))
            .add(make_stage("thumbnail", {{"every", "30"}, {"dir", out}}));
    RunReport report;
    const perf::Timing t = perf::measure([&] { report = pipeline.run(); });
    std::uint64_t frames = 0;
    for (const SourceReport& s : report.sources) frames += s.delivered;
    return static_cast<double>(frames) / t.wall_s;
}

template <class F>
std::pair<double, double> interleaved(int rounds, F&& job) {
    double best_on = 0, best_off = 0;
    for (int i = 0; i < rounds; ++i) {
        best_on = std::max(best_on, job(true));
        best_off = std::max(best_off, job(false));
    }
    return {best_on, best_off};
}

}  // namespace

int main(int argc, char** argv) {
    const std::string media = argc > 1 ? argv[1] : "perf-media";
    const bool pass_only = argc > 2 && std::string(argv[2]) == "pass-through";
    perf::Table table({"job", "profiling on", "profiling off", "cost of profiling", "goal"});
    for (const bool every_frame : {false, true}) {
        const auto [on, off] = interleaved(5, [&](bool p) { return passthrough_fps(p, 300'000, every_frame); });
        table.add({every_frame ? "pass-through, every frame timed" : "pass-through, 5 stages, 1080p pooled",
                   fmt::format("{:.0f} fps", on), fmt::format("{:.0f} fps", off),
                   fmt::format("{:.1f}%", 100 * (1 - on / off)), every_frame ? "-" : "< 10%"});
    }
    if (pass_only) {
        table.print();
        return 0;
    }
    const std::vector<std::string> inputs = perf::video_inputs(media, "1920x1080");
    const std::string out = (std::filesystem::temp_directory_path() / "framepipe-profiling-overhead").string();
    const auto [thumb_on, thumb_off] = interleaved(3, [&](bool p) { return thumbnails_fps(p, inputs, out); });
    std::filesystem::remove_all(out);
    table.add({"thumbnails, two 1080p H.264 inputs", fmt::format("{:.1f} fps", thumb_on),
               fmt::format("{:.1f} fps", thumb_off), fmt::format("{:.1f}%", 100 * (1 - thumb_on / thumb_off)), "< 2%"});
    fmt::print("Profiling on against off, interleaved, best of 5 (pass-through) and 3 (thumbnails) runs each\n\n");
    table.print();
    return 0;
}
