// A camera given as two streams (`inputs: - { name, path: MAIN, sub: SUB }`), as NVRs take one: the main stream's
// packets are recorded untouched, the sub stream is decoded and analysed, and event clips by copy of the main stream
// follow the motion found on the sub stream. Both streams carry the camera's name.
#include "support/media.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

constexpr int kFrames = 150, kEnters = 50, kLeaves = 90;  // 6 s at 25 fps; the square moves from 2 s to 3.6 s

// The same scene at any size: a gradient, and a white square crossing it between kEnters and kLeaves.
cv::Mat scene(int n, cv::Size size) {
    cv::Mat frame(size, CV_8UC3);
    for (int y = 0; y < size.height; ++y)
        frame.row(y).setTo(cv::Scalar(60 + 60 * y / size.height, 90, 120 - 60 * y / size.height));
    if (n >= kEnters && n <= kLeaves) {
        const int side = size.width * 70 / 320;
        cv::rectangle(frame, cv::Rect((n - kEnters) * size.width * 6 / 320, size.height / 3, side, side),
                      cv::Scalar::all(255), cv::FILLED);
    }
    return frame;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& extension) {
    std::vector<fs::path> out;
    if (fs::exists(dir))
        for (const auto& entry : fs::directory_iterator(dir))
            if (entry.path().extension() == extension) out.push_back(entry.path());
    return out;
}

std::vector<std::string> stage_names(const SourceReport& source) {
    std::vector<std::string> names;
    for (const StageReport& stage : source.stages) names.push_back(stage.name);
    return names;
}

}  // namespace

TEST_CASE("a camera with a main and a sub stream: the main stream is recorded by copy and never decoded, motion runs "
          "on the sub stream, its event's clip is of the main stream's packets, and everything carries the camera's "
          "name") {
    TempDir dir;
    const std::string main_stream = dir / "main.mkv", sub_stream = dir / "sub.mkv";
    write_video(main_stream, {.frames = kFrames, .size = {640, 480}, .fps = 25, .draw = scene});
    write_video(sub_stream, {.frames = kFrames, .size = {320, 240}, .fps = 25, .draw = scene});
    const std::string text = fmt::format(
        "inputs:\n"
        "  - {{ name: gate, path: '{}', sub: '{}' }}\n"
        "stages:\n"
        "  - {{ type: record, from: packets, codec: copy, dir: '{}', segment: 60s }}\n"
        "  - {{ type: event_clips, name: clips, from: packets, codec: copy, motion: motion, dir: '{}', pre_roll: 1s, "
        "post_roll: 1s }}\n"
        "  - {{ type: motion, from: source, events: '{}', cooldown: 1s }}\n",
        main_stream, sub_stream, dir / "rec", dir / "clips", dir / "events.jsonl");
    const PipelineFile file = parse_pipeline(text, "camera.yaml");
    const RunReport report = build_pipeline(file, {})->run();
    REQUIRE(report.ok());
    CHECK(report.balanced());

    REQUIRE(report.sources.size() == 2);
    const SourceReport& main = report.sources[0];
    const SourceReport& sub = report.sources[1];
    CHECK(main.name == "gate");
    CHECK(sub.name == "gate");
    CHECK(stage_names(main) == std::vector<std::string>{"record", "clips"});  // packets only: nothing decoded
    CHECK(stage_names(sub) == std::vector<std::string>{"decode", "convert", "motion"});
    CHECK(main.stages[0].processed == kFrames);
    CHECK(sub.stages[2].processed == kFrames);

    // The recording is the main stream, every packet.
    const auto segments = files_in(dir.path() / "rec", ".mkv");
    REQUIRE(segments.size() == 1);
    CHECK(segments[0].filename().string().rfind("gate_", 0) == 0);
    CHECK(ffprobe_stream_field(segments[0].string(), "width") == "640");
    CHECK(ffprobe_packets(segments[0].string()) == ffprobe_packets(main_stream));

    // One event, found on the sub stream, named by the camera.
    std::ifstream events_file(dir / "events.jsonl");
    std::vector<nlohmann::json> ended;
    for (std::string line; std::getline(events_file, line);)
        if (const auto event = nlohmann::json::parse(line); event["state"] == "ended") ended.push_back(event);
    REQUIRE(ended.size() == 1);
    CHECK(ended[0]["input"] == "gate");
    CHECK(ended[0]["start_frame"].get<int>() >= kEnters);
    CHECK(ended[0]["start_frame"].get<int>() <= kEnters + 3);

    // Its clip: the main stream's packets (640 wide), from before the motion to after it.
    const auto clips = files_in(dir.path() / "clips", ".mkv");
    REQUIRE(clips.size() == 1);
    CHECK(clips[0].filename().string().rfind("gate_", 0) == 0);
    CHECK(ffprobe_stream_field(clips[0].string(), "width") == "640");
    const std::int64_t clip_frames = ffprobe_frame_count(clips[0].string());
    CAPTURE(clip_frames);
    CHECK(clip_frames >= 25 + (kLeaves - kEnters));
    CHECK(clip_frames <= kFrames - kEnters + 26);
}

TEST_CASE("a camera with a sub stream is refused when no stage would use one of its streams, or it has no name") {
    const auto error_of = [](const std::string& stages, const std::string& input) {
        try {
            const PipelineFile file = parse_pipeline("inputs:\n  - " + input + "\nstages:\n" + stages, "camera.yaml");
            (void)build_pipeline(file, {});
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string camera = "{ name: gate, path: main.mp4, sub: sub.mp4 }";
    CHECK(error_of("  - { type: motion }\n", camera) ==
          "camera.yaml:2: input 'gate' has a main stream and a 'sub:' stream: its main stream is for the stages that "
          "take packets (`from: packets`, e.g. record with codec: copy) and no stage does; drop 'sub:' or record the main "
          "stream");
    CHECK(error_of("  - { type: record, from: packets, codec: copy }\n", camera) ==
          "camera.yaml:2: input 'gate' has a main stream and a 'sub:' stream: its sub stream is for the stages that "
          "take pictures and no stage does; drop 'sub:'");
    // A join takes the sub stream's pictures: then no stage needs to.
    CHECK(error_of("  - { type: record, from: packets, codec: copy }\njoin: { stages: [ { type: mosaic } ] }\n",
                   camera) == "no error");
    CHECK(error_of("  - { type: motion }\n", "{ path: main.mp4, sub: sub.mp4 }") ==
          "camera.yaml:2: an input with a 'sub:' stream needs a 'name:' (the camera's, which its events and files "
          "carry)");
}
