// The verdict on twelve pipelines whose limit is known by construction, with real work on this machine: stages that
// burn their thread's processor time, an output that sleeps as a slow disk does, a real H.264 decode, live sources
// paced on the real clock, and other processes that burn processors, started here. Prints, per scenario, the limit it
// was built to have, the one the verdict names and the verdict itself, then how many it named right. (The same
// scenarios in simulated time, where the answer cannot depend on the machine, are tests/pipelines/
// verdict_scenarios_test.cpp.) Run it on an otherwise idle machine: other tenants' work shows as other processes.
//
//   verdict_scenarios [MEDIA_DIR]
#include "../common/media.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>

#include <csignal>
#include <ctime>
#include <functional>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace framepipe;
using namespace std::chrono_literals;

namespace {

Duration thread_cpu() {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return Duration{std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec};
}

/// Computes for `cost` of its thread's processor time per frame: slower in real time when it gets less of a processor.
class Burn final : public Stage {
public:
    Burn(std::string name, Duration cost, bool parallel = false)
        : Stage({.name = std::move(name), .parallel = parallel}), cost_(cost) {}
    Outcome process(Frame& frame) override {
        const Duration until = thread_cpu() + cost_;
        unsigned sink = 0;
        while (thread_cpu() < until)
            for (int i = 0; i < 1000; ++i) sink += static_cast<unsigned>(i) * 2654435761U;
        frame.image.at<cv::Vec3b>(0, 0)[0] = static_cast<uchar>(sink);
        return Outcome::pass;
    }

private:
    Duration cost_;
};

/// An output on a slow disk: waits `cost` per frame.
class SlowDisk final : public Stage {
public:
    SlowDisk(std::string name, Duration cost)
        : Stage({.name = std::move(name), .blocking_io = true, .read_only = true}), cost_(cost) {}
    Outcome process(Frame&) override {
        std::this_thread::sleep_for(cost_);
        return Outcome::pass;
    }

private:
    Duration cost_;
};

/// Small frames: a file (as fast as taken) or a live camera at `fps` on the real clock, whose stream stalls for
/// `stall` after frame `stall_after` (a read that blocks, as a socket's does when the network stops).
class Frames final : public Source {
public:
    struct Options {
        std::string name = "clip";
        std::int64_t frames = 200;
        bool live = false;
        double fps = 25;
        std::int64_t stall_after = -1;
        Duration stall{};
    };
    explicit Frames(Options o) : o_(std::move(o)) {}
    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = o_.name;
        info.live = o_.live;
        info.fps = o_.fps;
        info.size = {64, 48};
        next_ = clock().now();
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        if (produced_ >= o_.frames || stop.stop_requested()) return ReadResult::end_of_stream;
        const auto interval = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / o_.fps));
        if (o_.live) {
            if (produced_ == o_.stall_after) next_ += o_.stall;
            if (!clock().sleep_until(next_, stop)) return ReadResult::end_of_stream;
            next_ += interval;
        }
        frame.prepare_image({64, 48}, CV_8UC3);
        frame.media_time = interval * produced_++;
        return ReadResult::frame;
    }

private:
    Options o_;
    TimePoint next_{};
    std::int64_t produced_ = 0;
};

/// Processes that burn a processor each until destroyed: "other processes" on the machine.
class Burners {
public:
    explicit Burners(int count) {
        for (int i = 0; i < count; ++i) {
            const pid_t pid = ::fork();
            if (pid == 0) {
                volatile unsigned x = 0;
                for (;;) x = x + 1;
            }
            pids_.push_back(pid);
        }
    }
    ~Burners() {
        for (const pid_t pid : pids_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }

private:
    std::vector<pid_t> pids_;
};

struct Scenario {
    std::string name;
    LimitKind expected;
    std::string expected_stage;  // empty: any
    std::function<void(Pipeline&)> build;
    int burners = 0;
};

std::unique_ptr<Frames> file(std::int64_t frames = 200) { return std::make_unique<Frames>(Frames::Options{.frames = frames}); }
std::unique_ptr<Frames> camera(double fps, std::int64_t frames, std::string name = "cam") {
    return std::make_unique<Frames>(Frames::Options{.name = std::move(name), .frames = frames, .live = true, .fps = fps});
}
std::unique_ptr<Burn> burn(std::string name, Duration cost, bool parallel = false) {
    return std::make_unique<Burn>(std::move(name), cost, parallel);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string media = argc > 1 ? argv[1] : "/tmp/framepipe-perf-media";
    const std::string video = perf::video_inputs(media, "1920x1080").front();
    const std::vector<Scenario> scenarios = {
        {"a serial CPU-heavy stage", LimitKind::stage, "score",
         [](Pipeline& p) { p.add_source(file()).add(burn("prepare", 1ms, true)).add(burn("score", 8ms)); }},
        {"a parallel CPU-heavy stage", LimitKind::stage, "heavy",
         [](Pipeline& p) { p.add_source(file()).add(burn("heavy", 10ms, true)).add(burn("sink", 50us)); }},
        {"the decoder (1080p H.264, one thread)", LimitKind::decoder, "decode",
         [&video](Pipeline& p) {
             p.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = video, .decode_threads = 1}))
                 .add(make_stage("resize", {{"width", "320"}}));
         }},
        {"a slow writer (sleeps 10 ms a frame)", LimitKind::writer, "save",
         [](Pipeline& p) { p.add_source(file()).add(burn("resize", 1ms, true)).add(std::make_unique<SlowDisk>("save", 10ms)); }},
        {"a live source slower than the pipeline", LimitKind::source_pace, "",
         [](Pipeline& p) { p.add_source(camera(20, 60)).add(burn("detect", 10ms)).add(burn("draw", 2ms)); }},
        {"the machine saturated by the pipeline", LimitKind::machine, "",
         [](Pipeline& p) {
             p.add_source(file(300)).add(burn("convert", 4ms, true)).add(burn("blur", 5ms, true)).add(burn("resize", 4ms, true));
         }},
        {"the machine shared with CPU-burning processes", LimitKind::other_processes, "",
         [](Pipeline& p) { p.add_source(file(150)).add(burn("score", 10ms)); }, 2},
        {"a stage starved by a heavy neighbour", LimitKind::stage, "heavy",
         [](Pipeline& p) {
             p.add_source(file(60)).add(burn("heavy", 100ms, true));
             p.add_source(camera(25, 50, "door")).add(burn("light", 1ms), {.capacity = 2});
         }},
        {"max_age drops", LimitKind::stage, "detect",
         [](Pipeline& p) {
             p.add_source(camera(25, 75))
                 .add(burn("detect", 60ms), {.capacity = 8, .overflow = Overflow::block, .max_age = 100ms});
         }},
        {"live drop_oldest drops", LimitKind::stage, "analyse",
         [](Pipeline& p) { p.add_source(camera(25, 75)).add(burn("analyse", 70ms), {.capacity = 1}); }},
        {"a network stall (3 s)", LimitKind::input, "",
         [](Pipeline& p) {
             p.add_source(std::make_unique<Frames>(Frames::Options{
                               .name = "street", .frames = 100, .live = true, .fps = 25, .stall_after = 50, .stall = 3s}))
                 .add(burn("detect", 5ms));
         }},
        {"a branch that slows its sibling", LimitKind::writer, "archive",
         [](Pipeline& p) {
             p.add_source(file())
                 .add(burn("resize", 1ms, true))
                 .add(burn("preview", 1ms))
                 .add(std::make_unique<SlowDisk>("archive", 8ms), {}, "resize");
         }},
    };
    int right = 0;
    for (const Scenario& scenario : scenarios) {
        std::unique_ptr<Burners> burners;
        if (scenario.burners > 0) {
            burners = std::make_unique<Burners>(scenario.burners);
            std::this_thread::sleep_for(200ms);  // let them take the processors
        }
        Pipeline pipeline(PipelineOptions{.worker_threads = 2});
        scenario.build(pipeline);
        const RunReport report = pipeline.run();
        burners.reset();
        const bool ok = report.limits.size() == 1 && report.limits[0].kind == scenario.expected &&
                        (scenario.expected_stage.empty() || report.limits[0].stage == scenario.expected_stage);
        right += ok ? 1 : 0;
        fmt::print("{:<48} expected {:<16} named {:<16} {}\n", scenario.name,
                   fmt::format("{}{}", to_string(scenario.expected),
                               scenario.expected_stage.empty() ? "" : " '" + scenario.expected_stage + "'"),
                   report.limits.empty() ? std::string("nothing")
                                         : fmt::format("{}{}", to_string(report.limits[0].kind),
                                                       report.limits[0].stage.empty() ? "" : " '" + report.limits[0].stage + "'"),
                   ok ? "right" : "WRONG");
        if (report.machine)
            fmt::print("    machine: {} processors, {:.2f} busy, {:.2f} framepipe, {:.2f} other processes\n",
                       report.machine->cores, report.machine->busy_cores, report.machine->process_cores,
                       report.machine->other_cores());
        fmt::print("    verdict: {}\n", report.verdict);
    }
    fmt::print("\nthe verdict named the known limit in {} of {} scenarios\n", right, scenarios.size());
    return right == static_cast<int>(scenarios.size()) ? 0 : 1;
}
