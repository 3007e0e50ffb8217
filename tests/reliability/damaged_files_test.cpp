// Damaged files, made at test time from good ones: each is refused or read as far as it goes, with a message that
// names it, the right exit code, and no hang; a damaged image in a folder is skipped and counted, and the rest is
// processed.
#include "support/command.hpp"
#include "support/damage.hpp"
#include "support/media.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string pipelines() { return std::string(FRAMEPIPE_SOURCE_DIR) + "/pipelines/"; }

CommandResult run_framepipe(const std::string& args, const TempDir& dir, std::chrono::milliseconds limit = 60s) {
    return run_bounded(fmt::format("'{}' {}", FRAMEPIPE_BINARY, args), dir.path(), limit);
}

}  // namespace

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
    CHECK(r.out.find("6 captured, 4 delivered, 2 dropped") != std::string::npos);
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
    CHECK(r.err.find("'only.jpg' is not an image OpenCV can decode") != std::string::npos);
    CHECK(r.err.find("lone: nothing was delivered: 1 of 1 frame(s) rejected as bad by 'decode'") != std::string::npos);
}
