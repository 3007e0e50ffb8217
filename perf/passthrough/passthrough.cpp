// Engine overhead: frames per second and per-hop latency through 5 pass-through stages with pooled 1080p BGR frames,
// framepipe's flow graph against a hand-written tbb::parallel_pipeline doing the same, in the same run.
// The stages do nothing but stamp the frame, so the figures are the cost of the engine itself: scheduling, edges,
// frame pool, lineage timestamps and per-stage histograms.
//
//   passthrough [FRAMES [ENGINE [WORK_BYTES]]]
//                                   default 300,000 frames per run; 5 rounds, each runs every entry, so all see the
//                                   same machine (this VM drifts by up to 1.6x between runs of one binary); prints
//                                   each entry's best run, its ratio to the best of parallel_pipeline timing every
//                                   stage (the baseline), and the median of the 5 same-round ratios;
//                                   ENGINE = framepipe or tbb runs only those entries (for profiling), all: every one;
//                                   WORK_BYTES: each stage reads that many bytes of the frame (default 0: it only
//                                   stamps it), to give the stages light work of a known size
// The entries: parallel_pipeline reading the clock around every stage of every frame (as framepipe's profiling
// does for frames that come no faster than PipelineOptions::profile_spacing) and without any clock read; framepipe
// as it runs by default (profiling on, timing about one frame per profile_spacing at this rate) and timing every
// frame (profile_spacing zero).
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

std::size_t work_bytes = 0;  // bytes of the frame each stage reads (argument WORK_BYTES): a light stage's work

// What every stage of both engines does: reads work_bytes of the frame and stamps it.
void touch(uchar* data, std::uint64_t sequence) {
    std::uint32_t sum = static_cast<std::uint32_t>(sequence);
    for (std::size_t i = 0; i < work_bytes; ++i) sum = sum * 31 + data[i];
    data[0] = static_cast<uchar>(sum);
}

class PassThrough final : public Stage {
public:
    PassThrough(int index, bool parallel)
        : Stage({.name = fmt::format("pass{}", index + 1), .parallel = parallel}) {}
    Outcome process(Frame& frame) override {
        touch(frame.image.data, frame.sequence);
        return Outcome::pass;
    }
};

struct Result {
    double fps = 0;
    Duration hop_p50{};
    Duration hop_p99{};
    double cpu_s = 0;
};

Result run_framepipe(std::uint64_t frames, bool parallel, bool every_frame) {
    PipelineOptions options;
    if (every_frame) options.profile_spacing = {};
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

Result run_tbb(std::uint64_t frames, bool parallel, bool timed) {
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
    const auto stage = [&hop, timed](int i) {
        return [&hop, timed, i](TbbFrame* f) {
            if (!timed) {
                touch(f->image.data, f->sequence);
                return f;
            }
            f->start[static_cast<std::size_t>(i)] = std::chrono::steady_clock::now();
            if (i > 0) hop.record(f->start[static_cast<std::size_t>(i)] - f->finish[static_cast<std::size_t>(i - 1)]);
            touch(f->image.data, f->sequence);
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
    work_bytes = std::min<std::size_t>(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0,
                                       std::size_t{kWidth} * kHeight * 3);  // at most the frame
    fmt::print(
        "Pass-through: {} pooled {}x{} BGR frames through {} stages that each read {} bytes of the frame, best of "
        "{} rounds, {} hardware threads\n\n",
        frames, kWidth, kHeight, kStages, work_bytes, kRounds, std::thread::hardware_concurrency());
    perf::Table table({"stages", "engine", "frames/s", "hop p50", "hop p99", "CPU s", "vs timed parallel_pipeline",
                       "median of rounds"});
    struct Entry {
        const char* name;
        bool tbb;
        bool timed;  // tbb: the clock read around every stage; framepipe: every frame timed (profile_spacing zero)
    };
    constexpr std::array<Entry, 4> entries{{{"tbb::parallel_pipeline, timed", true, true},
                                            {"tbb::parallel_pipeline, untimed", true, false},
                                            {"framepipe", false, false},
                                            {"framepipe, every frame timed", false, true}}};
    for (bool parallel : {false, true}) {
        std::array<Result, entries.size()> best{};
        std::array<std::vector<double>, entries.size()> ratios;
        for (int round = 0; round < kRounds; ++round) {
            std::array<Result, entries.size()> got{};
            for (std::size_t e = 0; e < entries.size(); ++e) {
                const Entry& entry = entries[e];
                if (!only.empty() && only != "all" && only != (entry.tbb ? "tbb" : "framepipe")) continue;
                got[e] =
                    entry.tbb ? run_tbb(frames, parallel, entry.timed) : run_framepipe(frames, parallel, entry.timed);
                if (got[e].fps > best[e].fps) best[e] = got[e];
            }
            for (std::size_t e = 0; e < entries.size(); ++e)
                if (got[e].fps > 0 && got[0].fps > 0) ratios[e].push_back(got[e].fps / got[0].fps);
        }
        const char* kind = parallel ? "parallel" : "serial";
        for (std::size_t e = 0; e < entries.size(); ++e) {
            if (best[e].fps == 0) continue;
            std::sort(ratios[e].begin(), ratios[e].end());
            const auto ratio = [](double r) { return r > 0 ? fmt::format("{:.2f}x", r) : std::string("-"); };
            table.add({kind, entries[e].name, fmt::format("{:.0f}", best[e].fps), us(best[e].hop_p50),
                       us(best[e].hop_p99), fmt::format("{:.2f}", best[e].cpu_s),
                       ratio(best[0].fps > 0 ? best[e].fps / best[0].fps : 0),
                       ratio(ratios[e].empty() ? 0 : ratios[e][ratios[e].size() / 2])});
        }
    }
    table.print();
    return 0;
}
