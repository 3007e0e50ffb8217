// Live input: capture-to-sink latency and how many live streams one machine sustains.
//
//   live_latency [MEDIA_DIR] [SECONDS] [all|latency|streams|motion]   (defaults: /tmp/framepipe-perf-media, 12, all)
//
// 1. Latency: a 1080p30 MJPEG file replayed at its own rate (as a camera would deliver it) through resize, blur and
//    Canny into a null sink. framepipe's capture-to-sink latency (p50, p99, and p99 over the first and second half of
//    the run, to show it stays flat) against a hand-written single loop doing the same work in the same run: read the
//    frame when it is due (cv::VideoCapture, which also decodes), resize, blur, Canny; latency = due time to done.
// 2. Streams: N such streams at once, N = 1, 2, ... until one of them drops a frame or falls behind real time by more
//    than half a second; the largest N that did neither is the figure.
// 3. The same for 720p30 H.264 sources through motion detection.
//
// Prints figures; asserts nothing. The machine is shared: compare the ratios, not the absolute numbers.

#include "../common/measure.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

using namespace framepipe;
using namespace std::chrono_literals;

namespace {

std::string generate(const std::string& dir, const std::string& name, const std::string& source, const std::string& codec,
                     int seconds) {
    std::filesystem::create_directories(dir);
    const std::string path = fmt::format("{}/{}", dir, name);
    if (!std::filesystem::exists(path)) {
        fmt::print(stderr, "generating {} ...\n", path);
        const std::string part = path + ".part" + std::filesystem::path(path).extension().string();
        const std::string command =
            fmt::format("ffmpeg -v error -y -f lavfi -i '{}' -t {} {} '{}'", source, seconds, codec, part);
        if (std::system(command.c_str()) != 0) throw std::runtime_error("ffmpeg could not generate " + path);
        std::filesystem::rename(part, path);
    }
    return path;
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<std::size_t>(p * static_cast<double>(values.size())))];
}

struct Latency {
    double p50 = 0, p99 = 0, first_half_p99 = 0, second_half_p99 = 0;
    std::uint64_t frames = 0, dropped = 0;
};

// The hand-written reader: one loop, one frame at a time, paced like a camera.
Latency hand_loop(const std::string& path) {
    cv::VideoCapture capture(path, cv::CAP_FFMPEG);
    const double fps = capture.get(cv::CAP_PROP_FPS);
    cv::Mat frame, small, blurred, edges;
    std::vector<double> latencies;
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t n = 0;; ++n) {
        const auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(n) / fps));
        std::this_thread::sleep_until(due);
        if (!capture.read(frame)) break;
        cv::resize(frame, small, cv::Size(640, 360), 0, 0, cv::INTER_AREA);
        cv::GaussianBlur(small, blurred, cv::Size(5, 5), 0);
        cv::Canny(blurred, edges, 50, 150);
        latencies.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - due).count());
    }
    Latency l;
    l.frames = latencies.size();
    l.p50 = percentile(latencies, 0.50);
    l.p99 = percentile(latencies, 0.99);
    const auto half = latencies.begin() + static_cast<std::ptrdiff_t>(latencies.size() / 2);
    l.first_half_p99 = percentile({latencies.begin(), half}, 0.99);
    l.second_half_p99 = percentile({half, latencies.end()}, 0.99);
    return l;
}

using ChainBuilder = void (*)(Chain&);

void edges_chain(Chain& chain) {
    chain.add(make_stage("resize", {{"width", "640"}}))
        .add(make_stage("blur", {{"ksize", "5"}}))
        .add(make_stage("canny", {}))
        .add(make_stage("null", {}));
}

void motion_chain(Chain& chain) { chain.add(make_stage("motion", {})).add(make_stage("null", {})); }

RunReport run_streams(const std::string& path, int streams, ChainBuilder build) {
    Pipeline pipeline({.timeline_interval = 250ms});
    for (int i = 0; i < streams; ++i)
        build(pipeline.add_source(std::make_unique<VideoSource>(
            VideoSource::Options{.path = path, .name = fmt::format("stream{}", i + 1), .realtime = true})));
    return pipeline.run();
}

Latency latency_of(const RunReport& report) {
    const SourceReport& s = report.sources.at(0);
    Latency l;
    l.frames = s.delivered;
    l.dropped = s.dropped();
    l.p50 = in_ms(s.end_to_end.p50);
    l.p99 = in_ms(s.end_to_end.p99);
    std::vector<double> p99s;
    for (const TimelineSample& sample : report.timeline)
        if (sample.sources.at(0).end_to_end_p99 > Duration::zero()) p99s.push_back(in_ms(sample.sources.at(0).end_to_end_p99));
    const auto mean = [](auto begin, auto end) {
        double sum = 0;
        for (auto it = begin; it != end; ++it) sum += *it;
        return begin == end ? 0.0 : sum / static_cast<double>(end - begin);
    };
    const auto half = p99s.begin() + static_cast<std::ptrdiff_t>(p99s.size() / 2);
    l.first_half_p99 = mean(p99s.begin(), half);
    l.second_half_p99 = mean(half, p99s.end());
    return l;
}

// How many streams at once run without a drop and without falling behind; prints a row per attempt.
int sustained_streams(const std::string& label, const std::string& path, ChainBuilder build, int limit) {
    perf::Table table({"streams", "frames", "dropped", "behind max ms", "p99 ms (worst stream)", "cpu cores", "ok"});
    std::vector<std::string> drop_notes;
    int best = 0;
    for (int n = 1; n <= limit; ++n) {
        RunReport report;
        const perf::Timing t = perf::measure([&] { report = run_streams(path, n, build); });
        std::uint64_t frames = 0, dropped = 0;
        double behind = 0, p99 = 0;
        for (const SourceReport& s : report.sources) {
            frames += s.delivered;
            dropped += s.dropped();
            behind = std::max(behind, in_ms(s.behind_real_time_max));
            p99 = std::max(p99, in_ms(s.end_to_end.p99));
        }
        const bool ok = report.ok() && dropped == 0 && behind < 500;
        if (!ok) {  // where the drops were, summed over the streams
            std::map<std::string, std::uint64_t> where;
            for (const SourceReport& s : report.sources) {
                if (s.dropped_at_capture > 0) where["at capture (no free frame)"] += s.dropped_at_capture;
                for (const EdgeReport& e : s.edges)
                    if (e.dropped() > 0)
                        where[fmt::format("edge {} -> {}", e.from == s.name ? "capture" : e.from, e.to)] += e.dropped();
                for (const StageReport& st : s.stages)
                    if (st.dropped() > 0) where[fmt::format("stage {}", st.name)] += st.dropped();
            }
            for (const auto& [place, count] : where) drop_notes.push_back(fmt::format("{} streams: {} dropped {}", n, place, count));
        }
        table.add({fmt::format("{}", n), fmt::format("{}", frames), fmt::format("{}", dropped), fmt::format("{:.0f}", behind),
                   fmt::format("{:.1f}", p99), fmt::format("{:.2f}", t.cpu_s / t.wall_s), ok ? "yes" : "no"});
        if (!ok) break;
        best = n;
    }
    fmt::print("\n{}\n", label);
    table.print();
    for (const std::string& note : drop_notes) fmt::print("  {}\n", note);
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "/tmp/framepipe-perf-media";
    const int seconds = argc > 2 ? std::atoi(argv[2]) : 12;
    const std::string part = argc > 3 ? argv[3] : "all";
    const auto wanted = [&](const char* name) { return part == "all" || part == name; };
    spdlog::set_level(spdlog::level::warn);
    const std::string mjpeg = generate(dir, fmt::format("live_1080p30_{}s.avi", seconds),
                                       "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u",
                                       "-c:v mjpeg -q:v 4 -pix_fmt yuvj420p", seconds);
    const std::string h264 = generate(dir, fmt::format("live_720p30_{}s.mp4", seconds),
                                      "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t+u",
                                      "-c:v libx264 -preset veryfast -crf 23 -g 60 -bf 0 -pix_fmt yuv420p", seconds);
    fmt::print("machine: {} hardware threads; {} s per run\n", std::thread::hardware_concurrency(), seconds);

    // 1. Latency, one stream; the hand loop first and last, so drift in the machine's load shows.
    if (wanted("latency")) {
        const Latency loop_a = hand_loop(mjpeg);
        const Latency fp = latency_of(run_streams(mjpeg, 1, edges_chain));
        const Latency loop_b = hand_loop(mjpeg);
        const Latency& loop = loop_a.p99 <= loop_b.p99 ? loop_a : loop_b;
        perf::Table latency({"1080p30 MJPEG -> resize, blur, Canny", "frames", "dropped", "p50 ms", "p99 ms",
                             "p99 1st half", "p99 2nd half"});
        const auto row = [&](const std::string& name, const Latency& l) {
            latency.add({name, fmt::format("{}", l.frames), fmt::format("{}", l.dropped), fmt::format("{:.1f}", l.p50),
                         fmt::format("{:.1f}", l.p99), fmt::format("{:.1f}", l.first_half_p99),
                         fmt::format("{:.1f}", l.second_half_p99)});
        };
        row("hand-written loop (run 1)", loop_a);
        row("framepipe", fp);
        row("hand-written loop (run 2)", loop_b);
        latency.print();
        fmt::print("framepipe p99 / best hand loop p99 = {:.2f} (goal <= 1.10); p50 ratio {:.2f}\n", fp.p99 / loop.p99,
                   fp.p50 / loop.p50);
    }

    // 2 and 3. Streams at once.
    const int edges_streams =
        wanted("streams") ? sustained_streams("1080p30 MJPEG streams -> resize, blur, Canny", mjpeg, edges_chain, 10) : -1;
    const int motion_streams =
        wanted("motion") ? sustained_streams("720p30 H.264 streams -> motion", h264, motion_chain, 14) : -1;
    fmt::print("\nsustained without drops: {} x 1080p30 MJPEG with resize+blur+Canny (goal >= 5); "
               "{} x 720p30 H.264 with motion\n",
               edges_streams, motion_streams);
    return 0;
}
