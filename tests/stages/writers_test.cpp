// Writers: videos that ffprobe plays with the expected frame count (and that decode back in order), image sequences,
// and clear errors for codecs and containers the system lacks.
#include "support/media.hpp"
#include "support/recorders.hpp"
#include "support/stage_harness.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

using namespace framepipe;
using namespace framepipe::test;

namespace {

void write_frames(const std::string& path, const std::map<std::string, std::string>& extra, int frames, cv::Size size) {
    std::map<std::string, std::string> options = extra;
    options["path"] = path;
    StageHarness writer("write_video", options, "clip.mp4", 25);
    for (int i = 0; i < frames; ++i) CHECK(writer.apply(numbered_frame(i, size), std::uint64_t(i)) == Outcome::pass);
    writer.close();
}

std::vector<int> decode_numbers(const std::string& path) {
    auto sink = std::make_unique<NumberRecorder>();
    NumberRecorder& recorder = *sink;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = path})).add(std::move(sink));
    REQUIRE(pipeline.run().ok());
    std::vector<int> numbers;
    for (const auto& seen : recorder.seen()) numbers.push_back(seen.number);
    return numbers;
}

}  // namespace

TEST_CASE("write_video: H.264 in MP4 probes with every frame, and decodes back in order") {
    TempDir dir;
    const std::string path = dir / "out.mp4";
    write_frames(path, {}, 48, {320, 240});
    CHECK(ffprobe_stream_field(path, "codec_name") == "h264");
    CHECK(ffprobe_stream_field(path, "width") == "320");
    CHECK(ffprobe_frame_count(path) == 48);
    CHECK(decode_numbers(path) == count_up(48));
}

TEST_CASE("write_video: other codecs and containers by name") {
    TempDir dir;
    const std::tuple<const char*, const char*, const char*> cases[] = {
        {"lossless.mkv", "ffv1", "ffv1"}, {"motion.avi", "mjpeg", "mjpeg"}, {"web.webm", "vp9", "vp9"},
        {"old.mkv", "mpeg4", "mpeg4"},    {"stream.ts", "h264", "h264"}};
    for (auto [file, codec, probed] : cases) {
        const std::string name = file;
        CAPTURE(name);
        const std::string path = dir / file;
        write_frames(path, {{"codec", codec}}, 20, {320, 240});
        CHECK(ffprobe_stream_field(path, "codec_name") == probed);
        CHECK(ffprobe_frame_count(path) == 20);
        CHECK(decode_numbers(path) == count_up(20));
    }
}

TEST_CASE("write_video: gray frames and frames that change size still make a playable video") {
    TempDir dir;
    const std::string path = dir / "mixed.mp4";
    {
        StageHarness writer("write_video", {{"path", path}}, "clip.mp4", 25);
        cv::Mat gray;
        cv::cvtColor(numbered_frame(0, {320, 240}), gray, cv::COLOR_BGR2GRAY);
        writer.apply(gray, 0);
        writer.apply(numbered_frame(1, {640, 480}), 1);  // scaled to the video's 320x240
        writer.apply(numbered_frame(2, {320, 240}), 2);
        writer.close();
    }
    CHECK(ffprobe_frame_count(path) == 3);
    CHECK(ffprobe_stream_field(path, "width") == "320");
}

TEST_CASE("write_video: a codec or container this system lacks is a configuration error that says what exists") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(make_stage("write_video", {{"path", dir / "x.mp4"}, {"codec", "nosuchcodec"}}),
                         doctest::Contains("has no 'nosuchcodec' video encoder; available: "), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("write_video", {{"path", dir / "x.nothing"}}),
                         doctest::Contains("cannot tell the container"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("write_video", {{"path", dir / "x.webm"}, {"codec", "h264"}}),
                         doctest::Contains("container cannot hold h264"), ConfigError);
}

TEST_CASE("write_video: an existing file is not overwritten unless asked") {
    TempDir dir;
    const std::string path = dir / "exists.mp4";
    write_frames(path, {}, 5, {160, 120});
    CHECK_THROWS_WITH_AS(StageHarness("write_video", {{"path", path}}), doctest::Contains("already exists"), ConfigError);
    write_frames(path, {{"overwrite", "true"}}, 7, {160, 120});
    CHECK(ffprobe_frame_count(path) == 7);
}

TEST_CASE("write_images: one file per frame, named by the template") {
    TempDir dir;
    {
        StageHarness writer("write_images", {{"dir", dir.path().string()}, {"file", "{input}-{frame:03}.png"}}, "cam.mp4");
        for (int i = 0; i < 5; ++i) writer.apply(numbered_frame(i, {160, 120}), std::uint64_t(i));
    }
    for (int i = 0; i < 5; ++i) CHECK(read_number(cv::imread(dir / fmt::format("cam-{:03}.png", i))) == i);
}
