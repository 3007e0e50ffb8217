// Every file in pipelines/, end to end, on media generated at test time: frame counts, thumbnail counts and names,
// contact sheet grids, and written videos that probe correctly.
#include "config/command_line.hpp"
#include "support/media.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

std::string pipeline_path(const std::string& name) {
    return std::string(FRAMEPIPE_SOURCE_DIR) + "/pipelines/" + name + ".yaml";
}

RunReport run_file(const std::string& name, const std::vector<std::string>& inputs, const std::vector<std::string>& sets) {
    PipelineFile file = load_pipeline_file(pipeline_path(name));
    for (const std::string& set : sets) apply_setting(file, set);
    check_stages(file);
    return build_pipeline(file, inputs)->run();
}

std::string slurp_file(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> files_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("pipelines/thumbnails.yaml: two videos, a thumbnail every 2 s and a contact sheet each") {
    TempDir dir;
    write_video(dir / "first.mp4", {.frames = 125, .size = {640, 360}, .fps = 25});  // 5 s
    write_video(dir / "second.mkv", {.frames = 90, .size = {480, 270}, .fps = 30,
                                     .codec = "-c:v mpeg4 -q:v 4"});  // 3 s
    const std::string out = dir / "thumbs";
    const RunReport report = run_file("thumbnails", {dir / "first.mp4", dir / "second.mkv"},
                                      {"thumbs.dir=" + out, "sheet.dir=" + out});
    REQUIRE(report.ok());
    REQUIRE(report.sources.size() == 2);
    CHECK(report.sources[0].delivered == 125);
    CHECK(report.sources[1].delivered == 90);
    CHECK(report.balanced());
    CHECK(files_in(out) == std::vector<std::string>{"first_000000.jpg", "first_000050.jpg", "first_000100.jpg",
                                                    "first_sheet.jpg", "second_000000.jpg", "second_000060.jpg",
                                                    "second_sheet.jpg"});
    const cv::Mat thumb = cv::imread(out + "/first_000050.jpg");
    CHECK(thumb.size() == cv::Size(320, 180));
    const cv::Mat sheet = cv::imread(out + "/first_sheet.jpg");
    CHECK(sheet.cols == 4 * (320 + 4) + 4);  // 4 columns of 320-wide tiles
    CHECK(sheet.rows == 4 * (180 + 4) + 4);  // 16 tiles
}

TEST_CASE("pipelines/thumbnails.yaml with its transcode branch (as its comment shows) writes thumbnails and a 720-line "
          "video of every frame from one decode") {
    TempDir dir;
    write_video(dir / "first.mp4", {.frames = 50, .size = {640, 360}, .fps = 25});
    // The file with the commented branch taken in, as a user would.
    std::string text = slurp_file(pipeline_path("thumbnails"));
    for (const char* line : {"  #   - { type: resize, name: resize720", "  #   - { type: write_video"}) {
        const std::size_t at = text.find(line);
        REQUIRE(at != std::string::npos);
        text.replace(at, 6, "  ");  // "  #   " -> "  "
    }
    PipelineFile file = parse_pipeline(text, "thumbnails.yaml");
    const std::string out = dir / "thumbs";
    for (const std::string& set : {"thumbs.dir=" + out, "sheet.dir=" + out, "write_video.path=" + out + "/{input}_720p.mp4"})
        apply_setting(file, set);
    check_stages(file);
    const RunReport report = build_pipeline(file, {dir / "first.mp4"})->run();
    REQUIRE(report.ok());
    CHECK(report.balanced());
    const SourceReport& source = report.sources.at(0);
    CHECK(source.stages.at(0).name == "decode");
    CHECK(source.stages.at(0).processed == 50);  // one decode for both
    CHECK(ffprobe_frame_count(out + "/first_720p.mp4") == 50);
    CHECK(ffprobe_stream_field(out + "/first_720p.mp4", "height") == "720");
    CHECK(fs::exists(out + "/first_000000.jpg"));
}

TEST_CASE("pipelines/batch_images.yaml: a folder with non-images and broken images still converts every good one") {
    TempDir dir;
    const std::string in = dir / "photos";
    fs::create_directories(in);
    write_images(in, 12, {640, 480}, "png", "shot");
    std::ofstream(in + "/notes.txt") << "not an image";
    std::ofstream(in + "/broken.jpg") << "\xFF\xD8\xFF\xE0 this is not really a jpeg";
    {  // a truncated JPEG: a real one cut in half
        write_images(in, 1, {640, 480}, "jpg", "cut");
        fs::resize_file(in + "/cut0.jpg", fs::file_size(in + "/cut0.jpg") / 2);
    }
    const std::string out = dir / "out";
    const RunReport report = run_file("batch_images", {in}, {"write_images.dir=" + out});
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.captured == 14);                  // 12 good + 2 broken images; notes.txt was never an input
    CHECK(s.stages.at(0).name == "decode");
    CHECK(s.stages.at(0).rejected == 2);      // broken.jpg and the truncated cut0.jpg, with warnings naming them
    CHECK(s.delivered == 12);
    CHECK(report.balanced());
    const auto written = files_in(out);
    REQUIRE(written.size() == 12);
    CHECK(written.front() == "shot0.jpg");
    const cv::Mat resized = cv::imread(out + "/shot7.jpg");
    CHECK(resized.size() == cv::Size(1280, 960));
    CHECK(read_number(resized) == 7);
}

TEST_CASE("pipelines/transcode_filtered.yaml: the encoded video has every frame at 720 lines") {
    TempDir dir;
    write_video(dir / "clip.mp4", {.frames = 50, .size = {640, 360}, .fps = 25});
    const std::string out = dir / "{input}_filtered.mp4";
    const RunReport report = run_file("transcode_filtered", {dir / "clip.mp4"}, {"encode.path=" + out});
    REQUIRE(report.ok());
    const std::string written = dir / "clip_filtered.mp4";
    CHECK(ffprobe_frame_count(written) == 50);
    CHECK(ffprobe_stream_field(written, "height") == "720");
    CHECK(ffprobe_stream_field(written, "codec_name") == "h264");
}

TEST_CASE("pipelines/edges.yaml: edges of every frame, from a file and from the synthetic source") {
    TempDir dir;
    write_video(dir / "clip.mkv", {.frames = 40, .size = {1280, 720}, .fps = 25});
    const RunReport report = run_file("edges", {dir / "clip.mkv", "synthetic"},
                                      {"encode.path=" + (dir / "{input}_edges.mp4"), "source.frames=30"});
    REQUIRE(report.ok());
    CHECK(ffprobe_frame_count(dir / "clip_edges.mp4") == 40);
    CHECK(ffprobe_stream_field(dir / "clip_edges.mp4", "width") == "640");
    CHECK(ffprobe_frame_count(dir / "synthetic_edges.mp4") == 30);
}

TEST_CASE("pipelines/thumbs_and_edges.yaml: thumbnails and an edges video from one decode of each input, nothing "
          "copied") {
    TempDir dir;
    write_video(dir / "a.mp4", {.frames = 60, .size = {320, 240}, .fps = 30});
    const RunReport report =
        run_file("thumbs_and_edges", {dir / "a.mp4"},
                 {"thumbs.dir=" + (dir / "thumbs"), "edge_video.path=" + (dir / "thumbs/{input}_edges.mp4")});
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    CHECK(source.balanced());
    CHECK(source.captured == 60);
    const auto stage = [&](const std::string& name) {
        for (const StageReport& s : source.stages)
            if (s.name == name) return s;
        FAIL("no stage " << name);
        return StageReport{};
    };
    CHECK(stage("decode").processed == 60);  // one decode feeds both branches
    // The planner made blur, resize and thumbs one stage that shrinks only the frames thumbs writes.
    CHECK(stage("blur+resize+thumbs").processed == 60);
    CHECK(stage("edge_video").processed == 60);
    for (const StageReport& s : source.stages) CHECK(s.copied == 0);
    CHECK(files_in(dir.path() / "thumbs") ==
          std::vector<std::string>{"a_000000.jpg", "a_000030.jpg", "a_edges.mp4"});
    CHECK(ffprobe_frame_count(dir / "thumbs/a_edges.mp4") == 60);
}

TEST_CASE("pipelines/side_by_side.yaml: two videos of different lengths joined by media time into one video of "
          "the longer one's length, each input's frames in its own tile") {
    TempDir dir;
    write_video(dir / "short.mp4", {.frames = 30, .size = {320, 240}, .fps = 30});  // 1 s
    write_video(dir / "long.mp4", {.frames = 60, .size = {320, 240}, .fps = 30});   // 2 s
    const std::string out = dir / "wall.mp4";
    const RunReport report = run_file("side_by_side", {dir / "short.mp4", dir / "long.mp4"}, {"write_video.path=" + out});
    REQUIRE(report.ok());
    CHECK(report.balanced());
    REQUIRE(report.sources.size() == 3);
    CHECK(report.sources.at(2).name == "side_by_side");
    CHECK(report.sources.at(0).stages.back().name == "to_side_by_side");
    CHECK(report.sources.at(0).stages.back().processed == 30);
    CHECK(report.sources.at(1).stages.back().processed == 60);
    // 10 pictures a second from 0 to the long input's last frame (1.97 s): 0.0, 0.1 ... 2.0 s.
    CHECK(ffprobe_frame_count(out) == 21);
    CHECK(ffprobe_stream_field(out, "width") == "1280");
    CHECK(ffprobe_stream_field(out, "height") == "360");
    // The last picture: each tile shows its input's last frame (the short one held since it ended).
    cv::VideoCapture video(out);
    cv::Mat picture, last;
    while (video.read(picture)) picture.copyTo(last);
    REQUIRE_FALSE(last.empty());
    const int tile_h = 360, tile_w = 640;
    const cv::Rect content((tile_w - 480) / 2, 0, 480, tile_h);  // 4:3 in a 16:9 tile
    CHECK(read_number(last(content)) == 29);
    CHECK(read_number(last(content + cv::Point(tile_w, 0))) == 59);
}

TEST_CASE("pipelines: inputs are required, and a missing one is named") {
    PipelineFile file = load_pipeline_file(pipeline_path("edges"));
    CHECK_THROWS_WITH_AS(build_pipeline(file, {}), doctest::Contains("no inputs"), ConfigError);
    CHECK_THROWS_WITH_AS(build_pipeline(file, {"/nonexistent/clip.mp4"})->run(),
                         doctest::Contains("'/nonexistent/clip.mp4': no such file"), ConfigError);
}
