// The live files in pipelines/, end to end, with stand-ins for cameras: webcam_live.yaml on the synthetic camera,
// surveillance.yaml on a file replayed at its own rate, stream_monitor.yaml on two real streams served on 127.0.0.1 by
// Debian's ffmpeg (one of them killed and restarted mid-run). Only settings a user would change are overridden: the
// inputs, output folders, the port, and timings short enough for a test.
#include "config/command_line.hpp"
#include "support/report_lookup.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <framepipe/pipeline_file.hpp>
#include <framepipe/report_io.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string pipeline_path(const std::string& name) {
    return std::string(FRAMEPIPE_SOURCE_DIR) + "/pipelines/" + name + ".yaml";
}

/// A pipeline file running on its own thread, as `framepipe run` runs it; stop() is Ctrl-C. The latest progress
/// snapshot is kept for the test to watch.
class FileRun {
public:
    FileRun(const std::string& name, const std::vector<std::string>& inputs, const std::vector<std::string>& sets) {
        PipelineFile file = load_pipeline_file(pipeline_path(name));
        for (const std::string& set : sets) apply_setting(file, set);
        check_stages(file);
        PipelineOptions options;
        options.progress_interval = 50ms;
        options.on_progress = [this](const RunReport& snapshot) {
            const std::lock_guard lock(mutex_);
            latest_ = snapshot;
        };
        pipeline_ = build_pipeline(file, inputs, options);
        thread_ = std::thread([this] {
            try {
                report_ = pipeline_->run();
            } catch (const std::exception& e) {
                failure_ = e.what();
            }
        });
    }
    ~FileRun() { stop(); }

    const RunReport& stop() {
        if (thread_.joinable()) {
            pipeline_->request_stop();
            thread_.join();
        }
        return report_;
    }
    /// Waits for the run to end by itself.
    const RunReport& finish() {
        if (thread_.joinable()) thread_.join();
        return report_;
    }
    [[nodiscard]] RunReport latest() const {
        const std::lock_guard lock(mutex_);
        return latest_;
    }
    [[nodiscard]] const std::string& failure() const { return failure_; }

private:
    std::unique_ptr<Pipeline> pipeline_;
    std::thread thread_;
    mutable std::mutex mutex_;
    RunReport latest_;
    RunReport report_;
    std::string failure_;
};

std::vector<fs::path> files_in(const fs::path& dir, const std::string& extension) {
    std::vector<fs::path> out;
    if (fs::exists(dir))
        for (const auto& entry : fs::directory_iterator(dir))
            if (entry.path().extension() == extension) out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::uint64_t captured(const RunReport& report, std::size_t source) {
    return report.sources.size() > source ? report.sources[source].captured : 0;
}

}  // namespace

TEST_CASE("pipelines/webcam_live.yaml: the synthetic camera, mirrored, in the live view and a thumbnail every interval") {
    TempDir dir;
    const int port = free_port();
    FileRun run("webcam_live", {"synthetic"},
                {"source.live=true", "source.frames=0", "source.width=640", "source.height=360",
                 fmt::format("view.listen=127.0.0.1:{}", port), "thumbs.dir=" + (dir / "thumbs"), "thumbs.interval=2s",
                 "text.position=top-right"});  // keep the burned-in frame number at the bottom readable
    REQUIRE(eventually([&] {  // up once the page lists the input's stream
        return http_get(port, "/", 1s).body.find("/stream.mjpg?name=synthetic\"") != std::string::npos ||
               !run.failure().empty();
    }));
    REQUIRE(run.failure().empty());

    // The MJPEG parts are the newest frames, mirrored: flipped back, their burned-in numbers read and increase.
    MjpegReader viewer(port, "/stream.mjpg");
    REQUIRE(viewer.status() == 200);
    std::vector<std::int64_t> numbers;
    for (int i = 0; i < 4; ++i) {
        const auto part = viewer.next_part();
        REQUIRE(part);
        cv::Mat picture = decode_picture(*part);
        REQUIRE(picture.size() == cv::Size(640, 360));
        cv::flip(picture, picture, 1);
        numbers.push_back(SyntheticSource::burned_number_of(picture));
    }
    CAPTURE(fmt::format("{}", fmt::join(numbers, " ")));
    CHECK(numbers.front() >= 0);
    CHECK(std::is_sorted(numbers.begin(), numbers.end()));
    CHECK(numbers.back() > numbers.front());

    REQUIRE(eventually([&] { return files_in(dir / "thumbs", ".jpg").size() >= 2; }));
    const RunReport& report = run.stop();
    REQUIRE(run.failure().empty());
    REQUIRE(report.ok());
    const auto thumbs = files_in(dir / "thumbs", ".jpg");
    for (const fs::path& thumb : thumbs) {
        CHECK(std::regex_match(thumb.filename().string(), std::regex(R"(synthetic_\d{8}-\d{6}\.jpg)")));
        CHECK(cv::imread(thumb.string()).size() == cv::Size(320, 180));
    }
    const SourceReport& source = report.sources.at(0);
    CHECK(source.live);
    CHECK(source.edges.at(0).overflow == Overflow::drop_oldest);
    CHECK(stage_named(source, "thumbs").processed == source.delivered);
    CHECK(report.balanced());
}

TEST_CASE("pipelines/surveillance.yaml: a replayed file is recorded by copy in segments with every packet, and the "
          "motion in it gives one event with a snapshot, an events line and a clip of packets that starts before the "
          "motion; the live view serves the same packets as HLS") {
    TempDir dir;
    constexpr int kFrames = 150, kEnters = 50, kLeaves = 90;  // 6 s at 25 fps; the square moves from 2 s to 3.6 s
    write_video(dir / "yard.mp4",
                {.frames = kFrames, .size = {320, 240}, .fps = 25, .draw = [](int n, cv::Size size) {
                     cv::Mat frame(size, CV_8UC3);
                     for (int y = 0; y < size.height; ++y)
                         frame.row(y).setTo(cv::Scalar(60 + y / 4, 90, 120 - y / 4));
                     if (n >= kEnters && n <= kLeaves)
                         cv::rectangle(frame, cv::Rect((n - kEnters) * 6, 80, 70, 70), cv::Scalar::all(255), cv::FILLED);
                     return frame;
                 }});
    const int view_port = free_port();
    FileRun run("surveillance", {dir / "yard.mp4"},
                {"source.realtime=true", fmt::format("view.listen=127.0.0.1:{}", view_port),
                 "motion.snapshots=" + (dir / "events"),
                 "motion.events=" + (dir / "events/events.jsonl"), "motion.cooldown=1s", "record.dir=" + (dir / "rec"),
                 "record.segment=2s", "clips.dir=" + (dir / "clips"), "clips.pre_roll=1s", "clips.post_roll=1s",
                 "live.to=" + (dir / "live/{input}.m3u8"), "view.hls=" + (dir / "live/{input}.m3u8"),
                 "live.hls_time=0.5s"});
    CHECK(eventually([&] {  // the live view serves the small branch while the run goes on
        return http_get(view_port, "/", 1s).body.find("/stream.mjpg?name=yard\"") != std::string::npos;
    }));
    CHECK(eventually([&] {  // and, beside it, the camera's packets as HLS once the first segment is written
        const HttpResponse playlist = http_get(view_port, "/hls/yard.m3u8", 1s);
        return playlist.status == 200 && playlist.content_type == "application/vnd.apple.mpegurl" &&
               playlist.body.find("yard_") != std::string::npos;
    }));
    const RunReport& report = run.finish();
    REQUIRE(run.failure().empty());
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    CHECK(source.live);
    CHECK(report.balanced());

    // Recording: closed segments only (no .part left), named by start time, holding every packet of the input.
    const auto segments = files_in(dir / "rec", ".mkv");
    CHECK(segments.size() == 3);
    std::int64_t recorded = 0;
    for (const fs::path& segment : segments) {
        CHECK(segment.filename().string().find(".part") == std::string::npos);
        CHECK(std::regex_match(segment.filename().string(), std::regex(R"(yard_\d{8}-\d{6}(-\d+)?\.mkv)")));
        recorded += ffprobe_frame_count(segment.string());
    }
    CHECK(recorded == static_cast<std::int64_t>(stage_named(source, "record").processed));
    CHECK(stage_named(source, "record").processed == kFrames);  // the main branch: nothing dropped, nothing re-encoded
    CHECK(source.delivered == kFrames);
    CHECK(stage_named(source, "record").unwritten == 0);
    CHECK(stage_named(source, "live").processed == kFrames);  // the HLS branch has every packet too
    CHECK(files_in(dir / "live", ".ts").size() >= 1);
    CHECK(files_in(dir / "live", ".tmp").empty());

    // Motion: one event, its snapshot, its ended line in events.jsonl naming it, and a clip with the same name.
    std::ifstream events_file(dir / "events/events.jsonl");
    std::vector<nlohmann::json> events;
    for (std::string line; std::getline(events_file, line);)  // a line when an event starts, one when it ends
        if (const auto event = nlohmann::json::parse(line); event["state"] == "ended") events.push_back(event);
    REQUIRE(events.size() == 1);
    const std::string snapshot = events[0]["snapshot"].get<std::string>();
    CHECK(std::regex_match(snapshot, std::regex(R"(yard_\d{8}-\d{6}_event0001\.jpg)")));  // live: wall-clock names
    CHECK(fs::exists(dir / ("events/" + snapshot)));
    CHECK(events[0]["start_frame"].get<int>() >= kEnters);
    CHECK(events[0]["start_frame"].get<int>() <= kEnters + 3);
    const auto clips = files_in(dir / "clips", ".mkv");
    REQUIRE(clips.size() == 1);
    CHECK(clips[0].stem() == fs::path(snapshot).stem());
    // From the keyframe at or before 1 s of pre-roll (a keyframe every 12 frames: frame 24), the motion (41 frames),
    // cooldown and post-roll (1 s each): about 116 frames.
    const std::int64_t clip_frames = ffprobe_frame_count(clips[0].string());
    CAPTURE(clip_frames);
    CHECK(clip_frames >= 25 + (kLeaves - kEnters));
    CHECK(clip_frames <= kFrames - kEnters + 26);
}

TEST_CASE("pipelines/stream_monitor.yaml: two streams on one page (one named by its URL, one by NAME=URL); one dies "
          "and returns while the other keeps going, and no password reaches the report or the page") {
    TempDir dir;
    const int mjpeg_port = free_port(), ts_port = free_port(), view_port = free_port();
    const auto mjpeg_server = [&] {
        return std::make_unique<Process>(fmt::format(
            "ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=320x240:rate=25 -c:v mjpeg -q:v 5 -f mpjpeg "
            "-listen 1 http://127.0.0.1:{}/front.mjpg",
            mjpeg_port));
    };
    const auto ts_server = [&] {
        return std::make_unique<Process>(fmt::format(
            "ffmpeg -nostdin -v error -re -f lavfi -i testsrc=size=320x240:rate=25 -c:v libx264 -preset ultrafast "
            "-tune zerolatency -g 25 -f mpegts -listen 1 http://127.0.0.1:{}/back.ts",
            ts_port));
    };
    auto front = mjpeg_server();
    auto back = ts_server();
    std::this_thread::sleep_for(300ms);  // let them listen

    FileRun run("stream_monitor",
                {fmt::format("http://viewer:secret@127.0.0.1:{}/front.mjpg", mjpeg_port),
                 fmt::format("back=http://127.0.0.1:{}/back.ts", ts_port)},  // named as on the command line
                {"source.open_timeout=5s", "source.read_timeout=1s", "source.backoff_max=500ms",
                 fmt::format("view.listen=127.0.0.1:{}", view_port), "health.dir=" + (dir / "health"),
                 "health.interval=2s"});
    REQUIRE(eventually([&] {
        const RunReport r = run.latest();
        return (captured(r, 0) >= 25 && captured(r, 1) >= 25) || !run.failure().empty();
    }));
    REQUIRE(run.failure().empty());
    const std::string page = http_get(view_port, "/", 2s).body;
    CHECK(page.find(fmt::format("/stream.mjpg?name=127-0-0-1-{}_front-mjpg\"", mjpeg_port)) != std::string::npos);
    CHECK(page.find("/stream.mjpg?name=back\"") != std::string::npos);
    const std::string stats = http_get(view_port, "/stats.json", 2s).body;
    CHECK(nlohmann::json::parse(stats)["sources"].size() == 2);
    CHECK(stats.find("secret") == std::string::npos);

    back->kill(SIGKILL);
    REQUIRE(eventually([&] { return run.latest().sources.at(1).signal_lost; }, 10s));
    const std::uint64_t front_when_lost = captured(run.latest(), 0);
    std::this_thread::sleep_for(700ms);
    CHECK(captured(run.latest(), 0) > front_when_lost);  // the other stream carried on
    const std::uint64_t back_before = captured(run.latest(), 1);
    back = ts_server();
    CHECK(eventually([&] { return captured(run.latest(), 1) >= back_before + 25; }, 20s));
    const RunReport& report = run.stop();
    REQUIRE(run.failure().empty());
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).reconnects == 0);
    CHECK(report.sources.at(1).reconnects >= 1);
    CHECK(report.sources.at(1).time_lost >= 700ms);
    CHECK(report_to_json(report).find("secret") == std::string::npos);
    CHECK(report.balanced());
    // Health snapshots, one folder for every stream, named after each.
    const auto health = files_in(dir / "health", ".jpg");
    const auto named = [&](const std::string& stem) {
        return std::count_if(health.begin(), health.end(),
                             [&](const fs::path& p) { return p.filename().string().rfind(stem, 0) == 0; });
    };
    CHECK(named(fmt::format("127-0-0-1-{}_front-mjpg_", mjpeg_port)) >= 1);
    CHECK(named("back_") >= 1);
}
