// Outputs other programs read: y4m (decoded frames as raw YUV4MPEG2) and stream_out (the packets untouched as MPEG-TS
// or HLS), read back with ffprobe and OpenCV. Standard output and a reader that goes away: tests/cli/cli_test.cpp.
#include "support/media.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <opencv2/videoio.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

TEST_CASE("y4m: every decoded frame, in order, as 4:2:0 raw video ffmpeg and OpenCV read") {
    TempDir dir;
    const std::string input = dir / "clip.mkv";
    write_video(input, {.frames = 40, .size = {320, 240}, .fps = 25});
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}))
        .add(make_stage("y4m", {{"to", dir / "out.y4m"}}));
    REQUIRE(pipeline.run().ok());

    CHECK(ffprobe_stream_field(dir / "out.y4m", "width") == "320");
    CHECK(ffprobe_stream_field(dir / "out.y4m", "r_frame_rate") == "25/1");
    CHECK(ffprobe_frame_count(dir / "out.y4m") == 40);
    cv::VideoCapture capture(dir / "out.y4m");
    cv::Mat picture;
    for (int n = 0; n < 40; ++n) {
        REQUIRE(capture.read(picture));
        CHECK(read_number(picture) == n);
    }
}

TEST_CASE("stream_out: HLS from the packets: a playlist that ends, segments that start on keyframes, every frame") {
    TempDir dir;
    const std::string input = dir / "camera.mkv";
    write_video(input, {.frames = 150, .size = {320, 240}, .fps = 25,
                        .codec = "-c:v libx264 -preset veryfast -bf 3 -g 25 -pix_fmt yuv420p"});
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}))
        .add(make_stage("stream_out", {{"to", dir / "live/cam.m3u8"}, {"hls_time", "1s"}, {"hls_list_size", "100"}}), {},
             std::string(kFromPackets))
        .add(make_stage("null"), {}, std::string(kFromSource));
    REQUIRE(pipeline.run().ok());

    std::ifstream playlist(dir / "live/cam.m3u8");
    std::stringstream text;
    text << playlist.rdbuf();
    CHECK(text.str().find("#EXT-X-ENDLIST") != std::string::npos);
    int segments = 0;
    for (const auto& entry : fs::directory_iterator(dir.path() / "live")) {
        if (entry.path().extension() != ".ts") continue;
        ++segments;
        CHECK(text.str().find(entry.path().filename().string()) != std::string::npos);
        CHECK(ffprobe_packets(entry.path().string()).front().rfind("K", 0) == 0);
    }
    CHECK(segments == 6);
    CHECK(ffprobe_frame_count(dir / "live/cam.m3u8") == 150);
}

TEST_CASE("stream_out and y4m refuse what they cannot write, saying what to do") {
    CHECK_THROWS_WITH_AS(make_stage("stream_out", {{"to", "out.unknown-extension"}}),
                         doctest::Contains("cannot tell the container"), ConfigError);
    TempDir dir;
    const std::string input = dir / "clip.mkv";
    write_video(input, {.frames = 5});
    Pipeline pipeline;  // stream_out on pictures
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}))
        .add(make_stage("stream_out", {{"to", dir / "out.ts"}}));
    const RunReport report = pipeline.run();
    REQUIRE_FALSE(report.ok());
    CHECK(report.error->message.find("add `from: packets`") != std::string::npos);
}
