// Damaged files, made at test time from good ones: each is refused or read as far as it goes, with a message that
// names it, the right exit code, and no hang; a damaged image in a folder is skipped and counted, and the rest is
// processed.
#include "support/command.hpp"
#include "support/framepipe_command.hpp"
#include "support/damage.hpp"
#include "support/media.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("damaged files: a file that is not a video, or is empty, or lost its index, is refused by name with exit 2") {
    TempDir dir;
    std::ofstream(dir / "text.mp4") << "hello, I am not a video\n";
    std::ofstream(dir / "empty.mkv");
    write_video(dir / "indexless.mp4", {.frames = 50, .size = {320, 240}});  // MP4's index (moov) is at the end
    truncate_to(dir / "indexless.mp4", 0.6);
    for (const char* file : {"text.mp4", "empty.mkv", "indexless.mp4"}) {
        CAPTURE(file);
        const CommandResult r = run_framepipe(fmt::format("run -q '{}edges.yaml' {} --set encode.path=out.mp4", pipelines(), file), dir);
        CHECK_FALSE(r.timed_out);
        CHECK(r.code == 2);
        CHECK(r.err.find(fmt::format("'{}'", file)) != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "out.mp4"));
    }
}

TEST_CASE("damaged files: an image folder with a header bomb and a cut-off JPEG processes the good images and counts "
          "the bad ones by name") {
    TempDir dir;
    fs::create_directories(dir / "photos");
    write_images(dir / "photos", 4, {64, 48}, "jpg");
    write_png_claiming(dir / "photos/bomb.png", 20000, 20000);
    write_images(dir / "photos", 1, {64, 48}, "jpg", "cut");
    truncate_to(dir / "photos/cut0.jpg", 0.5);
    const CommandResult r = run_framepipe(fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=out "
                                                  "--set source.max_pixels=1000000",
                                                  pipelines()),
                                      dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 0);
    CHECK(r.err.find("bomb.png") != std::string::npos);
    CHECK(r.err.find("cut0.jpg") != std::string::npos);
    CHECK(r.out.find("6 captured, 4 delivered, 0 filtered, 2 rejected, 0 dropped") != std::string::npos);
    CHECK(std::distance(fs::directory_iterator(dir / "out"), fs::directory_iterator{}) == 4);
}

TEST_CASE("damaged files: a run in which every frame was rejected exits 1 and says why, naming the file") {
    TempDir dir;
    fs::create_directories(dir / "lone");
    std::ofstream(dir / "lone/only.jpg") << "not a picture at all";
    const CommandResult r = run_framepipe(
        fmt::format("run -q '{}batch_images.yaml' lone --set write_images.dir=out", pipelines()), dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 1);
    CHECK(r.err.find("'only.jpg' is not in a format framepipe reads") != std::string::npos);
    CHECK(r.err.find("lone: nothing was delivered: 1 of 1 frame(s) rejected as bad by 'decode'") != std::string::npos);
}

TEST_CASE("damaged files: garbled H.264, MPEG-TS and MJPEG are read to their end, their damaged pictures counted, "
          "warned about once and reported; a clean copy reports none") {
    TempDir dir;
    struct Case {
        const char* file;
        const char* codec;
    };
    const Case cases[] = {{"h264.mkv", "-c:v libx264 -preset veryfast -g 25 -pix_fmt yuv420p"},
                          {"h264.ts", "-c:v libx264 -preset veryfast -g 25 -pix_fmt yuv420p -f mpegts"},
                          {"mjpeg.avi", "-c:v mjpeg -q:v 5"}};
    for (const Case& c : cases) {
        CAPTURE(c.file);
        write_video(dir / c.file, {.frames = 100, .size = {320, 240}, .codec = c.codec});
        fs::copy_file(dir / c.file, dir / (std::string("clean_") + c.file));
        garble(dir / c.file, 0.2, 0.95, 40, 7);
        for (const std::string& file : {std::string(c.file), std::string("clean_") + c.file}) {
            const bool clean = file.rfind("clean_", 0) == 0;
            const CommandResult r = run_framepipe(
                fmt::format("run -q '{}edges.yaml' {} --set encode.path={}.mp4 --report {}.json", pipelines(), file,
                            file, file),
                dir);
            CHECK_FALSE(r.timed_out);
            CHECK(r.code == 0);
            const nlohmann::json report = nlohmann::json::parse(slurp(dir / (file + ".json")));
            const nlohmann::json& source = report["sources"][0];
            CHECK(report["balanced"] == true);
            const auto damaged = source["damaged"].get<std::uint64_t>();
            const std::size_t warnings = [&] {
                std::size_t n = 0;
                for (auto at = r.err.find("decoded with errors concealed"); at != std::string::npos;
                     at = r.err.find("decoded with errors concealed", at + 1))
                    ++n;
                return n;
            }();
            if (clean) {
                CHECK(damaged == 0);
                CHECK(warnings == 0);
            } else {
                CHECK(damaged > 0);
                CHECK(warnings == 1);  // once, with the count
                CHECK(r.out.find(fmt::format("{} damaged", damaged)) != std::string::npos);
            }
        }
    }
}

TEST_CASE("damaged files: a file cut short is processed as far as it goes and reported as ended early") {
    TempDir dir;
    write_video(dir / "cut.mkv", {.frames = 100, .size = {320, 240}});
    truncate_to(dir / "cut.mkv", 0.5);
    const CommandResult r = run_framepipe(
        fmt::format("run -q '{}edges.yaml' cut.mkv --set encode.path=out.mp4 --report run.json", pipelines()), dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 0);
    CHECK(r.err.find("cut.mkv: the input ended early after") != std::string::npos);
    CHECK(r.err.find("the file is cut short") != std::string::npos);
    const nlohmann::json report = nlohmann::json::parse(slurp(dir / "run.json"));
    CHECK(report["sources"][0]["ended_early"].get<std::string>().find("cut short") != std::string::npos);
    const auto delivered = report["sources"][0]["delivered"].get<std::int64_t>();
    CHECK(delivered > 20);
    CHECK(ffprobe_frame_count(dir / "out.mp4") == delivered);
}
