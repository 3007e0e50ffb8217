// Motion detection and event clips on scenes drawn at test time: a still textured background with sensor noise, and a
// white square that crosses it from frame 75 to frame 150 (25 fps). Motion must start within a few frames of the
// square's entry, end after the cooldown, leave a snapshot and an events line, and ignore noise alone; event clips must
// begin with the pre-roll (frames before the square appeared), be flushed while open and renamed when closed, and
// leftovers of a killed run be recovered or removed.
#include "support/local_time.hpp"
#include "support/media.hpp"
#include "support/stage_harness.hpp"

#include <framepipe/attachments/motion.hpp>
#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <map>
#include <fstream>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

// What the motion stage attached to the frame it last processed; every frame it passes gets one.
const MotionAttachment& motion_of_frame(StageHarness& motion) {
    const auto* attached = motion.current().find<MotionAttachment>();
    REQUIRE(attached != nullptr);
    return *attached;
}

constexpr int kEnters = 75;
constexpr int kLeaves = 150;  // last frame with the square
const cv::Size kSize{320, 240};

int square_x(int n) { return (n - kEnters) * (kSize.width - 80) / (kLeaves - kEnters); }

/// The scene at frame n: the same texture every time, fresh noise of +-6 levels, the square while it is in view.
cv::Mat scene(int n, cv::Size size, bool with_square = true) {
    cv::Mat background(size, CV_8UC3);
    cv::RNG texture(1234);
    texture.fill(background, cv::RNG::UNIFORM, cv::Scalar::all(40), cv::Scalar::all(120));
    cv::GaussianBlur(background, background, cv::Size(7, 7), 0);
    cv::Mat noise(size, CV_8UC3);
    cv::RNG sensor(static_cast<std::uint64_t>(n) + 1);
    sensor.fill(noise, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(12));
    cv::Mat frame = background + noise - cv::Scalar::all(6);
    if (with_square && n >= kEnters && n <= kLeaves) {
        cv::rectangle(frame, cv::Rect(square_x(n), size.height / 3, 80, 80), cv::Scalar::all(255), cv::FILLED);
    }
    return frame;
}

std::vector<nlohmann::json> read_events(const std::string& path) {
    std::vector<nlohmann::json> events;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) events.push_back(nlohmann::json::parse(line));
    return events;
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    if (fs::exists(dir))
        for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path());
    return out;
}

}  // namespace

TEST_CASE("motion: one event starts within 3 frames of the square's entry and ends after the cooldown, with a "
          "snapshot, a line when it starts and one when it ends") {
    TempDir dir;
    StageHarness motion("motion", {{"cooldown", "1s"}, {"snapshots", dir / "snaps"}, {"events", dir / "events.jsonl"}},
                        "yard.mp4");
    std::vector<std::uint64_t> event_of(220);
    std::vector<float> motion_of(220);
    for (int n = 0; n < 220; ++n) {
        REQUIRE(motion.apply(scene(n, kSize), static_cast<std::uint64_t>(n)) == Outcome::pass);
        event_of[n] = motion_of_frame(motion).event;
        motion_of[n] = motion_of_frame(motion).share;
        if (n > kEnters + 3 && n <= kLeaves) {
            CAPTURE(n);
            REQUIRE(motion_of_frame(motion).regions.size() == 1);  // the square, in full-frame pixels
            const cv::Rect region = motion_of_frame(motion).regions.front();
            const cv::Rect square(square_x(n), kSize.height / 3, 80, 80);
            CHECK((region & square).area() >= square.area() * 8 / 10);
            CHECK(region.area() <= square.area() * 2);
        }
    }
    motion.close();

    int first = -1;
    for (int n = 0; n < 220 && first < 0; ++n)
        if (event_of[n] != 0) first = n;
    CHECK(first >= kEnters);
    CHECK(first <= kEnters + 3);
    for (int n = 0; n < kEnters; ++n) CHECK(motion_of[n] == 0.0F);
    for (int n = first; n <= kLeaves; ++n) CHECK(event_of[n] == 1);
    CHECK(event_of[kLeaves + 20] == 1);  // still inside the 1 s cooldown
    CHECK(event_of[kLeaves + 30] == 0);  // ended

    // Two lines: one written when the event started, one when it ended, naming the same run, input and event.
    const auto events = read_events(dir / "events.jsonl");
    REQUIRE(events.size() == 2);
    CHECK(events[0]["state"] == "started");
    CHECK(events[1]["state"] == "ended");
    for (const auto& line : events) {
        CHECK(line["run"] == events[0]["run"]);
        CHECK(line["input"] == "yard.mp4");
        CHECK(line["event"] == 1);
        CHECK(line["start_frame"] == first);
        CHECK(line["snapshot"] == events[0]["snapshot"]);
    }
    CHECK_FALSE(events[0].contains("end_frame"));
    CHECK(events[1]["end_frame"].get<int>() >= kLeaves - 3);
    CHECK(events[1]["end_frame"].get<int>() <= kLeaves + 2);
    const auto snapshots = files_in(dir.path() / "snaps");
    REQUIRE(snapshots.size() == 1);
    CHECK(snapshots[0].filename() == events[1]["snapshot"].get<std::string>());
    const cv::Mat snapshot = cv::imread(snapshots[0].string());
    CHECK(snapshot.size() == kSize);
}

TEST_CASE("motion: sensor noise and a still scene make no event") {
    StageHarness motion("motion", {{"cooldown", "1s"}});
    for (int n = 0; n < 150; ++n) {
        REQUIRE(motion.apply(scene(n, kSize, /*with_square=*/false), static_cast<std::uint64_t>(n)) == Outcome::pass);
        CHECK(motion_of_frame(motion).event == 0);
        CHECK(motion_of_frame(motion).regions.empty());
    }
}

TEST_CASE("motion: a burned-in clock reads as motion when its minute rolls over if the text comes before motion, "
          "never when it comes after (pipelines/surveillance.yaml), in simulated wall time") {
    // The run's clock at 23:59:50 on new year's eve; ten seconds later every digit of the date and time changes.
    ManualClock clock;
    clock.set_wall(local_time(2026, 12, 31, 23, 59, 50));
    const std::map<std::string, std::string> motion_options{{"min_area", "0.005"}, {"cooldown", "5s"},
                                                             {"still_after", "30s"}};  // as surveillance.yaml
    const std::map<std::string, std::string> text_options{
        {"text", "{input}  {clock}"}, {"position", "top-left"}, {"scale", "0.7"}};
    StageHarness motion_first("motion", motion_options, "yard", 25, &clock);
    StageHarness text_after("text", text_options, "yard", 25, &clock);
    StageHarness text_first("text", text_options, "yard", 25, &clock);
    StageHarness motion_after("motion", motion_options, "yard", 25, &clock);
    constexpr int kRollover = 250;  // 10 s at 25 fps
    int first_event_behind_text = -1;
    for (int n = 0; n < kRollover + 50; ++n) {
        const cv::Mat still = scene(n, kSize, /*with_square=*/false);
        const auto seq = static_cast<std::uint64_t>(n);
        // surveillance.yaml's order: motion, then the text.
        motion_first.apply(still, seq);
        CHECK(motion_of_frame(motion_first).event == 0);
        text_after.apply(motion_first.image(), seq);
        // The order that failed CI: the text, then motion.
        text_first.apply(still, seq);
        motion_after.apply(text_first.image(), seq);
        if (motion_of_frame(motion_after).event != 0 && first_event_behind_text < 0) first_event_behind_text = n;
        clock.advance(std::chrono::milliseconds(40));
    }
    CAPTURE(first_event_behind_text);
    CHECK(first_event_behind_text >= kRollover);
    CHECK(first_event_behind_text <= kRollover + 2);
}

TEST_CASE("motion: zones and masks: only motion inside zones counts, never inside a mask, and events name the zones "
          "they touched and carry ISO 8601 wall-clock times") {
    // The square crosses from the left edge to x = 240 of 320, at heights 80..160.
    const auto events_with = [](const std::map<std::string, std::string>& options) {
        TempDir dir;
        std::map<std::string, std::string> all = options;
        all["cooldown"] = "1s";
        all["events"] = dir / "events.jsonl";
        StageHarness motion("motion", all, "yard.mp4");
        for (int n = 0; n < 220; ++n) REQUIRE(motion.apply(scene(n, kSize), static_cast<std::uint64_t>(n)) == Outcome::pass);
        motion.close();
        return read_events(dir / "events.jsonl");
    };
    SUBCASE("zones: the left and middle ones are crossed, the top strip is not") {
        const auto events = events_with(
            {{"zones", "left: 0,0 0.3,0 0.3,1 0,1; middle: 0.35,0 0.65,0 0.65,1 0.35,1; top: 0,0 1,0 1,0.2 0,0.2"}});
        REQUIRE(events.size() == 2);
        CHECK(events[1]["state"] == "ended");
        CHECK(events[1]["zones"] == nlohmann::json::array({"left", "middle"}));
        // ISO 8601: date, time with milliseconds, the zone's offset.
        const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2})");
        CHECK(std::regex_match(events[1]["start_time"].get<std::string>(), iso));
        CHECK(std::regex_match(events[1]["end_time"].get<std::string>(), iso));
    }
    SUBCASE("a zone nothing crosses gives no event") {
        CHECK(events_with({{"zones", "top: 0,0 1,0 1,0.2 0,0.2"}}).empty());
    }
    SUBCASE("a mask over the square's path gives no event") {
        CHECK(events_with({{"mask", "0,0.25 1,0.25 1,0.75 0,0.75"}}).empty());
    }
    SUBCASE("a bad polygon is refused, naming the option and the point") {
        CHECK_THROWS_WITH_AS(make_stage("motion", {{"zones", "door: 0,0 1.5,0 1,1"}}),
                             doctest::Contains("zones: '1.5,0' in polygon 1"), ConfigError);
        CHECK_THROWS_WITH_AS(make_stage("motion", {{"mask", "0,0 1,0"}}), doctest::Contains("needs at least 3"),
                             ConfigError);
    }
}

TEST_CASE("motion: a bad option names the option and its range") {
    CHECK_THROWS_WITH_AS(make_stage("motion", {{"min_area", "2"}}), doctest::Contains("min_area"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("event_clips", {{"container", "avi"}}), doctest::Contains("container"),
                         ConfigError);
}

TEST_CASE("event_clips: a video with one crossing gives one clip that starts with the pre-roll and plays to the "
          "post-roll") {
    TempDir dir;
    const std::string video = dir / "yard.mp4";
    write_video(video, {.frames = 260, .size = kSize, .fps = 25, .draw = [](int n, cv::Size s) { return scene(n, s); }});

    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = video}))
        .add(make_stage("motion", {{"cooldown", "1s"}, {"events", dir / "events.jsonl"}}))
        .add(make_stage("event_clips", {{"dir", dir / "clips"}, {"pre_roll", "1s"}, {"post_roll", "1s"}}));
    REQUIRE(pipeline.run().ok());

    const auto clips = files_in(dir.path() / "clips");
    REQUIRE(clips.size() == 1);
    CHECK(clips[0].extension() == ".mkv");
    // 25 frames of pre-roll, the event (about frames 75..150 plus the 1 s cooldown), then 1 s of post-roll.
    const std::int64_t frames = ffprobe_frame_count(clips[0].string());
    CHECK(frames >= 25 + 75 + 25 + 20);
    CHECK(frames <= 25 + 80 + 25 + 27);

    cv::VideoCapture clip(clips[0].string());
    cv::Mat first;
    REQUIRE(clip.read(first));
    double brightest = 0;
    cv::Mat gray;
    cv::cvtColor(first, gray, cv::COLOR_BGR2GRAY);
    cv::minMaxLoc(gray, nullptr, &brightest);
    CHECK(brightest < 200);  // before the square: the pre-roll
}

TEST_CASE("event_clips codec: copy on the packet branch follows the events of motion on a small decoded branch: one "
          "clip of the camera's own packets with the sound, from the keyframe before the pre-roll to the post-roll") {
    TempDir dir;
    const std::string video = dir / "yard.mkv";  // a keyframe every 25 frames (1 s), and sound
    write_video(video, {.frames = 260, .size = kSize, .fps = 25,
                        .codec = "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=10.4 -c:v libx264 -preset "
                                 "veryfast -bf 3 -g 25 -pix_fmt yuv420p -c:a aac -b:a 48k",
                        .draw = [](int n, cv::Size s) { return scene(n, s); }});
    const std::vector<std::string> source_packets = ffprobe_packets(video);
    REQUIRE(source_packets.size() == 260);

    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = video}))
        .add(make_stage("event_clips", {{"dir", dir / "clips"}, {"codec", "copy"}, {"pre_roll", "1s"}, {"post_roll", "1s"}}),
             {}, std::string(kFromPackets))
        .add(make_stage("resize", {{"width", "160"}}), {}, std::string(kFromSource))
        .add(make_stage("motion", {{"cooldown", "1s"}, {"width", "160"}}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.balanced());

    const auto clips = files_in(dir.path() / "clips");
    REQUIRE(clips.size() == 1);
    const std::vector<std::string> clip = ffprobe_packets(clips[0].string());
    REQUIRE_FALSE(clip.empty());
    // The clip is a run of the source's packets, byte for byte, starting on a keyframe.
    const auto start = std::search(source_packets.begin(), source_packets.end(), clip.begin(), clip.end());
    REQUIRE(start != source_packets.end());
    const auto first = start - source_packets.begin();
    const auto last = first + static_cast<std::ptrdiff_t>(clip.size()) - 1;
    CAPTURE(first);
    CAPTURE(last);
    CHECK(clip.front().rfind("K", 0) == 0);
    // Motion from about frame 75 (3.0 s): the pre-roll of 1 s starts at the keyframe at or before 2.0 s (frame 50).
    CHECK(first == 50);
    // The square leaves after frame 150; the event ends 1 s later and the clip 1 s after that (about frame 200).
    CHECK(last >= 190);
    CHECK(last <= 215);
    CHECK(ffprobe_frame_count(clips[0].string()) == static_cast<std::int64_t>(clip.size()));
    // The sound of those frames: 48 kHz AAC is 46.9 packets a second.
    const double seconds = static_cast<double>(clip.size()) / 25;
    const auto audio = static_cast<double>(ffprobe_packet_count(clips[0].string(), "a:0"));
    CAPTURE(audio);
    CHECK(audio >= 46.9 * (seconds - 0.2));
    CHECK(audio <= 46.9 * (seconds + 0.2));
}

TEST_CASE("event_clips: the open clip is a .part file holding every frame up to its last flush (each flush_interval "
          "of media time); it is renamed when the clip closes") {
    TempDir dir;
    const fs::path clips_dir = dir.path() / "clips";
    StageHarness clips("event_clips",
                       {{"dir", clips_dir.string()}, {"pre_roll", "1s"}, {"post_roll", "1s"}, {"flush_interval", "0.4s"}},
                       "yard.mp4", 25);
    const auto feed = [&](int n, std::uint64_t event) {
        Frame& frame = clips.frame(numbered_frame(n, {160, 120}), static_cast<std::uint64_t>(n));
        frame.attach<MotionAttachment>().event = event;
        REQUIRE(clips.stage().process(frame) == Outcome::pass);
    };
    for (int n = 0; n < 50; ++n) feed(n, 0);
    for (int n = 50; n < 100; ++n) feed(n, 1);
    // Written so far: the pre-roll (frames 25..49, 1 s) and frames 50..99; flushes every 10 frames of media time.
    auto open = files_in(clips_dir);
    REQUIRE(open.size() == 1);
    CHECK(open[0].filename().string().find(".part.mkv") != std::string::npos);
    const std::int64_t flushed = ffprobe_frame_count(open[0].string());
    CHECK(flushed >= 75 - 10);
    CHECK(flushed <= 75);
    for (int n = 100; n < 130; ++n) feed(n, 0);  // the post-roll ends 1 s after frame 99: the clip closes at 125
    const auto closed = files_in(clips_dir);
    REQUIRE(closed.size() == 1);
    CHECK(closed[0].filename() == "yard_event0001_00-00-02.000.mkv");
    CHECK(ffprobe_frame_count(closed[0].string()) == 25 + 50 + 26);
    CHECK(clips.health().unwritten() == 0);
}

TEST_CASE("event_clips: a restart renames a leftover .part clip that plays to -recovered and removes one that holds "
          "no playable frame") {
    TempDir dir;
    const fs::path clips_dir = dir.path() / "clips";
    fs::create_directories(clips_dir);
    write_video((clips_dir / "yard_event0001_00-00-02.000.part.mkv").string(), {.frames = 10, .size = {160, 120}});
    std::ofstream(clips_dir / "yard_event0002_00-00-09.000.part.mkv");                          // killed before a frame
    std::ofstream(clips_dir / "yard_event0003_00-00-19.000.part.mkv") << "\x1a\x45\xdf\xa3 cut";  // a header, no frame
    write_video((clips_dir / "gate_event0001_00-00-01.000.part.mkv").string(), {.frames = 5, .size = {160, 120}});
    {
        StageHarness clips("event_clips", {{"dir", clips_dir.string()}}, "yard.mp4", 25);
    }
    std::vector<std::string> names;
    for (const fs::path& p : files_in(clips_dir)) names.push_back(p.filename().string());
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"gate_event0001_00-00-01.000.part.mkv",  // another input's: not touched
                                            "yard_event0001_00-00-02.000-recovered.mkv"});
    CHECK(ffprobe_frame_count((clips_dir / "yard_event0001_00-00-02.000-recovered.mkv").string()) == 10);
}
