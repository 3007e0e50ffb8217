// Engine overhead: frames per second and per-hop latency through 5 pass-through stages with pooled 1080p BGR frames,
// framepipe's flow graph against a hand-written tbb::parallel_pipeline doing the same, in the same run.
// The stages do nothing but stamp the frame, so the figures are the cost of the engine itself: scheduling, edges,
// frame pool, lineage timestamps and per-stage histograms.
//
//   passthrough [FRAMES [ENGINE]]   default 300,000 frames per run; 5 rounds, each runs parallel_pipeline then
//                                   framepipe, so both see the same machine (this VM drifts by up to 1.6x between
//                                   runs of one binary); prints each engine's best run, the ratio of the bests and
//                                   the median of the 5 same-round ratios;
//                                   ENGINE = framepipe or tbb runs only that one (for profiling)
// PASSTHROUGH_SUMMARY=1 prints each framepipe run's per-stage summary (format_summary) to stderr.
#include "../common/measure.hpp"

#include "engine/latency_histogram.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/report.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <oneapi/tbb/parallel_pipeline.h>

#include <opencv2/core.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

using namespace framepipe;

namespace {

constexpr int kStages = 5;
constexpr int kRounds = 5;  // each runs parallel_pipeline, then framepipe
constexpr int kWidth = 1920;
constexpr int kHeight = 1080;

class PassThrough final : public Stage {
public:
    PassThrough(int index, bool parallel)
        : Stage({.name = fmt::format("pass{}", index + 1), .parallel = parallel}) {}
    Outcome process(Frame& frame) override {
        frame.image.data[0] = static_cast<uchar>(frame.sequence);  // touch the frame
        return Outcome::pass;
    }
};

struct Result {
    double fps = 0;
    Duration hop_p50{};
    Duration hop_p99{};
    double cpu_s = 0;
};

Result run_framepipe(std::uint64_t frames, bool parallel) {
    PipelineOptions options;
    if (const char* capacity = std::getenv("PASSTHROUGH_CAPACITY")) options.default_capacity = std::stoul(capacity);
    Pipeline pipeline(options);
    Chain& chain = pipeline.add_source(std::make_unique<SyntheticSource>(
        SyntheticSource::Options{.width = kWidth, .height = kHeight, .frames = static_cast<std::int64_t>(frames),
                                 .fps = 0, .pattern = SyntheticSource::Pattern::counter}));
    for (int i = 0; i < kStages; ++i) chain.add(std::make_unique<PassThrough>(i, parallel));
    RunReport report;
    const perf::Timing t = perf::measure([&] { report = pipeline.run(); });
    const SourceReport& s = report.sources.at(0);
    if (s.delivered != frames) fmt::print(stderr, "framepipe lost frames: {} of {}\n", s.delivered, frames);
    if (std::getenv("PASSTHROUGH_SUMMARY") != nullptr) fmt::print(stderr, "{}\n", format_summary(report));
    Result r;
    r.fps = static_cast<double>(frames) / t.wall_s;
    r.cpu_s = t.cpu_s;
    // Hops between stages: the wait of stages 2..5 (stage 1's wait is the hop from the source).
    for (int i = 1; i < kStages; ++i) {
        r.hop_p50 += s.stages[static_cast<std::size_t>(i)].wait.p50 / (kStages - 1);
        r.hop_p99 = std::max(r.hop_p99, s.stages[static_cast<std::size_t>(i)].wait.p99);
    }
    return r;
}

// The same job as a tbb::parallel_pipeline: a serial input filter takes a pooled 1080p frame and stamps it, five
// filters pass it on, the last returns it to the pool. Tokens bound the frames in flight like framepipe's edges do.
struct TbbFrame {
    cv::Mat image;
    std::uint64_t sequence = 0;
    std::array<std::chrono::steady_clock::time_point, kStages> start{}, finish{};
};

Result run_tbb(std::uint64_t frames, bool parallel) {
    const std::size_t tokens = 24;
    std::vector<TbbFrame> storage(tokens + 1);
    std::vector<TbbFrame*> free_list;
    std::mutex free_mutex;  // touched once per frame at each end; a lock-free pool would not change the picture
    for (auto& f : storage) {
        f.image.create(kHeight, kWidth, CV_8UC3);
        free_list.push_back(&f);
    }
    detail::LatencyHistogram hop;
    std::uint64_t produced = 0;
    const auto mode = parallel ? oneapi::tbb::filter_mode::parallel : oneapi::tbb::filter_mode::serial_in_order;
    const auto stage = [&hop](int i) {
        return [&hop, i](TbbFrame* f) {
            f->start[static_cast<std::size_t>(i)] = std::chrono::steady_clock::now();
            if (i > 0) hop.record(f->start[static_cast<std::size_t>(i)] - f->finish[static_cast<std::size_t>(i - 1)]);
            f->image.data[0] = static_cast<uchar>(f->sequence);
            f->finish[static_cast<std::size_t>(i)] = std::chrono::steady_clock::now();
            return f;
        };
    };
    const perf::Timing t = perf::measure([&] {
        oneapi::tbb::parallel_pipeline(
            tokens,
            oneapi::tbb::make_filter<void, TbbFrame*>(
                oneapi::tbb::filter_mode::serial_in_order,
                [&](oneapi::tbb::flow_control& fc) -> TbbFrame* {
                    if (produced == frames) {
                        fc.stop();
                        return nullptr;
                    }
                    std::lock_guard lock(free_mutex);
                    TbbFrame* f = free_list.back();
                    free_list.pop_back();
                    f->sequence = produced++;
                    f->image.data[1] = static_cast<uchar>(f->sequence);
                    return f;
                }) &
                oneapi::tbb::make_filter<TbbFrame*, TbbFrame*>(mode, stage(0)) &
                oneapi::tbb::make_filter<TbbFrame*, TbbFrame*>(mode, stage(1)) &
                oneapi::tbb::make_filter<TbbFrame*, TbbFrame*>(mode, stage(2)) &
                oneapi::tbb::make_filter<TbbFrame*, TbbFrame*>(mode, stage(3)) &
                oneapi::tbb::make_filter<TbbFrame*, void>(mode, [&, last = stage(4)](TbbFrame* f) {
                    last(f);
                    std::lock_guard lock(free_mutex);
                    free_list.push_back(f);
                }));
    });
    Result r;
    r.fps = static_cast<double>(frames) / t.wall_s;
    r.cpu_s = t.cpu_s;
    const LatencySummary s = hop.summary();
    r.hop_p50 = s.p50;
    r.hop_p99 = s.p99;
    return r;
}

std::string us(Duration d) { return fmt::format("{:.1f} us", std::chrono::duration<double, std::micro>(d).count()); }

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t frames = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300'000;
    const std::string only = argc > 2 ? argv[2] : "";
    fmt::print("Pass-through: {} pooled {}x{} BGR frames through {} stages, best of {} rounds, {} hardware threads\n\n",
               frames, kWidth, kHeight, kStages, kRounds, std::thread::hardware_concurrency());
    perf::Table table(
        {"stages", "engine", "frames/s", "hop p50", "hop p99", "CPU s", "vs parallel_pipeline", "median of rounds"});
    for (bool parallel : {false, true}) {
        Result tbb{1}, fp{1};
        std::vector<double> ratios;
        for (int round = 0; round < kRounds; ++round) {
            const Result t = only == "framepipe" ? Result{1} : run_tbb(frames, parallel);
            const Result f = only == "tbb" ? Result{1} : run_framepipe(frames, parallel);
            if (t.fps > tbb.fps) tbb = t;
            if (f.fps > fp.fps) fp = f;
            ratios.push_back(f.fps / t.fps);
        }
        std::sort(ratios.begin(), ratios.end());
        const char* kind = parallel ? "parallel" : "serial";
        table.add({kind, "tbb::parallel_pipeline", fmt::format("{:.0f}", tbb.fps), us(tbb.hop_p50), us(tbb.hop_p99),
                   fmt::format("{:.2f}", tbb.cpu_s), "1.00x", "1.00x"});
        table.add({kind, "framepipe", fmt::format("{:.0f}", fp.fps), us(fp.hop_p50), us(fp.hop_p99),
                   fmt::format("{:.2f}", fp.cpu_s), fmt::format("{:.2f}x", fp.fps / tbb.fps),
                   fmt::format("{:.2f}x", ratios[kRounds / 2])});
    }
    table.print();
    return 0;
}
