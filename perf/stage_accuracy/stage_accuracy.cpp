// stage_accuracy: are the per-stage service times framepipe reports what the work costs? The same kernels (decode,
// convert, blur, resize) are timed on their own, outside the engine, on the same frames of the same file in the same
// run, and compared with the service times framepipe's report gives for its pipeline source -> decode -> convert ->
// blur -> resize. Goal: within 5% on every stage.
//
//   stage_accuracy [MEDIA_DIR [RUNS]]     (default /work/perf-media, 3 runs of each side, interleaved)
//   STAGE_ACCURACY_CV1=1       OpenCV's own threads off (cv::setNumThreads(1)) on both sides
//   STAGE_ACCURACY_CAPACITY=N  the pipeline's default edge capacity (2)
//
// Kernels alone (one thread, timed with steady_clock around each call; reading the file is not timed):
//   decode  - framepipe's own decode stage (src/media/video_decode.cpp: libavcodec, one decoder thread as the video
//             source's default), called by hand on the packets the video source reads; a packet the decoder answers
//             later (B-frames) is held and its picture comes with a later call, as in the pipeline
//   convert - framepipe's convert stage (libswscale YUV 4:2:0 -> BGR24), called by hand
//   blur    - cv::GaussianBlur, ksize 5, sigma 0 (the blur stage's settings)
//   resize  - cv::resize to 320 wide, INTER_AREA (what the resize stage picks when shrinking)
//   Blur and resize write into a buffer the frame keeps and make it the image, as the stages do. Two orders: frame by
//   frame (each frame through all four kernels: its picture is still in the core's cache for the next kernel), and by
//   pairs (each kernel on two frames, then the next kernel: the order in which framepipe's single worker runs them,
//   each stage taking what its edge of two frames holds before the next stage runs).
// framepipe: Pipeline with worker_threads = 1 (and, for the last column, the default threads); each stage's service
// time from the RunReport (mean: exact sum / count; p50: from the latency histogram, within 4.5%).
// Each side's figure per stage is the best (lowest) mean of its runs: the least disturbed by other load.
#include "../common/media.hpp"
#include "../common/measure.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace framepipe;
namespace fs = std::filesystem;

namespace {

constexpr std::array<const char*, 4> kStages{"decode", "convert", "blur", "resize"};
constexpr int kThumbWidth = 320;

struct StageTimes {
    double mean_ms = 0;
    double p50_ms = 0;
    std::uint64_t count = 0;
};
using Times = std::array<StageTimes, kStages.size()>;

class Samples {
public:
    void add(std::chrono::steady_clock::duration d) { ns_.push_back(std::chrono::duration<double, std::nano>(d).count()); }
    [[nodiscard]] StageTimes summary() {
        if (ns_.empty()) return {};
        double sum = 0;
        for (const double v : ns_) sum += v;
        std::nth_element(ns_.begin(), ns_.begin() + static_cast<std::ptrdiff_t>(ns_.size() / 2), ns_.end());
        return {sum / static_cast<double>(ns_.size()) / 1e6, ns_[ns_.size() / 2] / 1e6, ns_.size()};
    }

private:
    std::vector<double> ns_;
};

template <class F>
auto timed(Samples& samples, F&& call) {
    const auto t0 = std::chrono::steady_clock::now();
    auto result = call();
    samples.add(std::chrono::steady_clock::now() - t0);
    return result;
}

// The kernels on their own, one thread, on every frame of `path`: each kernel on `batch` frames before the next
// kernel runs (1: every frame through all four, its picture still in the core's cache for the next kernel).
Times kernels_alone(const std::string& path, std::size_t batch) {
    VideoSource source(VideoSource::Options{.path = path});
    const SourceInfo info = source.open({});
    std::vector<std::unique_ptr<Stage>> stages = source.decode_stages();  // decode, convert: as a pipeline gets them
    if (stages.size() != 2) throw std::runtime_error("expected decode and convert stages");
    Stage& decode = *stages[0];
    Stage& convert = *stages[1];
    StageHealth health;
    ChainBoard board;
    for (std::size_t s = 0; s < stages.size(); ++s)
        stages[s]->open(StageContext{0, info, s, &default_clock(), nullptr, &health, {}, &board});

    std::array<Samples, kStages.size()> samples;
    std::deque<std::unique_ptr<Frame>> spare;  // reused oldest first, as many as are needed at once
    std::vector<std::unique_ptr<Frame>> decoded;
    // convert, blur, resize on the decoded frames, kernel by kernel, each call timed on its own. Blur and resize write
    // into a buffer the frame keeps and make it the image, as the stages do (Frame::buffer, set_image).
    const auto rest = [&] {
        for (auto& frame : decoded) (void)timed(samples[1], [&] { return convert.process(*frame); });
        for (auto& frame : decoded)
            (void)timed(samples[2], [&] {
                cv::Mat& blurred = frame->buffer(frame->image.size(), frame->image.type());
                cv::GaussianBlur(frame->image, blurred, cv::Size(5, 5), 0);
                frame->set_image(blurred);
                return 0;
            });
        for (auto& frame : decoded) {
            const cv::Size out(kThumbWidth, static_cast<int>(std::lround(static_cast<double>(frame->image.rows) *
                                                                         kThumbWidth / frame->image.cols)));
            (void)timed(samples[3], [&] {
                cv::Mat& small = frame->buffer(out, frame->image.type());
                cv::resize(frame->image, small, out, 0, 0, cv::INTER_AREA);
                frame->set_image(small);
                return 0;
            });
        }
        for (auto& frame : decoded) spare.push_back(std::move(frame));
        decoded.clear();
    };
    std::deque<std::unique_ptr<Frame>> held;  // packets whose pictures the decoder gives with later calls
    std::uint64_t sequence = 0;
    for (;;) {
        std::unique_ptr<Frame> frame;
        if (spare.empty()) {
            frame = std::make_unique<Frame>();
        } else {
            frame = std::move(spare.front());
            spare.pop_front();
            frame->reset_metadata();
        }
        frame->sequence = sequence;
        if (source.read(*frame, {}) != ReadResult::frame) break;  // reading (demuxing) is not timed
        ++sequence;
        frame->capture_time = default_clock().now();
        const Outcome outcome = timed(samples[0], [&] { return decode.process(*frame); });
        if (outcome == Outcome::hold) {
            held.push_back(std::move(frame));
            continue;
        }
        if (outcome != Outcome::pass) {
            spare.push_back(std::move(frame));
            continue;
        }
        decoded.push_back(std::move(frame));
        if (decoded.size() == batch) rest();
    }
    for (auto& frame : held)  // the decoder's last pictures (the engine does not count flush() as service time either)
        if (decode.flush(*frame)) {
            decoded.push_back(std::move(frame));
            if (decoded.size() == batch) rest();
        }
    rest();
    for (auto& stage : stages) stage->close();
    source.close();
    Times times;
    for (std::size_t s = 0; s < kStages.size(); ++s) times[s] = samples[s].summary();
    return times;
}

// framepipe's pipeline on the same file: each stage's service time from its report.
Times framepipe_reports(const std::string& path, std::size_t threads) {
    PipelineOptions options{.worker_threads = threads};
    if (const char* capacity = std::getenv("STAGE_ACCURACY_CAPACITY")) options.default_capacity = std::stoul(capacity);
    Pipeline pipeline(options);
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = path}))
        .add(make_stage("blur", {{"ksize", "5"}}))
        .add(make_stage("resize", {{"width", std::to_string(kThumbWidth)}}));
    const RunReport report = pipeline.run();
    if (!report.ok()) throw std::runtime_error("the pipeline failed: " + report.error->describe());
    Times times;
    for (std::size_t s = 0; s < kStages.size(); ++s) {
        const StageReport& stage = report.sources.at(0).stages.at(s);
        if (stage.name != kStages[s]) throw std::runtime_error("unexpected stage " + stage.name);
        times[s] = {in_ms(stage.service.mean), in_ms(stage.service.p50), stage.service.count};
    }
    return times;
}

void keep_best(Times& best, const Times& run) {
    for (std::size_t s = 0; s < kStages.size(); ++s)
        if (best[s].count == 0 || run[s].mean_ms < best[s].mean_ms) best[s] = run[s];
}

// The benchmark's media folder: the shared 1080p inputs when they exist there, the 720p ones generated.
std::string input_of(const std::string& dir, const std::string& size) { return perf::video_inputs(dir, size).at(0); }

}  // namespace

int main(int argc, char** argv) {
    const std::string media = argc > 1 ? argv[1] : "/work/perf-media";
    const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    if (std::getenv("STAGE_ACCURACY_CV1") != nullptr) cv::setNumThreads(1);  // OpenCV's own threads off, both sides
    for (const char* size : {"1920x1080", "1280x720"}) {
        const std::string path = input_of(media, size);
        Times hot, pairs, one, all;
        (void)kernels_alone(path, 1);  // warm: page cache, decoder and OpenCV's first-use costs
        for (int r = 0; r < runs; ++r) {  // interleaved, so slow phases of the machine hit every side
            keep_best(hot, kernels_alone(path, 1));
            keep_best(pairs, kernels_alone(path, 2));
            keep_best(one, framepipe_reports(path, 1));
            keep_best(all, framepipe_reports(path, 0));
        }
        fmt::print("\n{} H.264, {} frames, mean ms per frame (p50), best of {} runs per side\n", size, hot[0].count,
                   runs);
        const auto cell = [](const StageTimes& t) { return fmt::format("{:.3f} ({:.3f})", t.mean_ms, t.p50_ms); };
        perf::Table table({"stage", "alone, frame by frame", "alone, by pairs", "framepipe 1 thread", "ratio",
                           "within 5%", "ratio to frame by frame", fmt::format("framepipe {} threads", cores)});
        for (std::size_t s = 0; s < kStages.size(); ++s) {
            const double ratio = one[s].mean_ms / pairs[s].mean_ms;
            table.add({kStages[s], cell(hot[s]), cell(pairs[s]), cell(one[s]), fmt::format("{:.3f}", ratio),
                       std::abs(ratio - 1) <= 0.05 ? "yes" : "NO", fmt::format("{:.3f}", one[s].mean_ms / hot[s].mean_ms),
                       cell(all[s])});
        }
        table.print();
        std::fflush(stdout);
    }
    return 0;
}
