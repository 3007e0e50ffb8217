// OpenCV's image codecs (imgcodecs: about 120 libraries, a tenth of a second of start-up) are loaded only by a run
// that reads or writes a picture in a format other than JPEG: the command starts without them, JPEG thumbnails are
// written without them, and a PNG output loads them through libframepipe's plugin when its stage opens.
// What is loaded is what the dynamic loader itself reports (LD_DEBUG=files, on stderr).
#include "support/framepipe_command.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>

using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

CommandResult run_listing_libraries(const std::string& args, const TempDir& dir) {
    return run_bounded("LD_DEBUG=files " + framepipe_command_line(args), dir.path(), std::chrono::seconds(60));
}

}  // namespace

TEST_CASE("framepipe starts and writes JPEG thumbnails without loading OpenCV's image codecs") {
    TempDir dir;
    const CommandResult version = run_listing_libraries("--version", dir);
    REQUIRE(version.code == 0);
    CHECK(contains(version.err, "file=libopencv_core"));  // the loader's list is there
    CHECK_FALSE(contains(version.err, "libopencv_imgcodecs"));

    const CommandResult thumbnails = run_listing_libraries(
        fmt::format("run -q '{}thumbnails.yaml' synthetic --set source.frames=90 --set thumbs.dir=out "
                    "--set sheet.dir=out",
                    pipelines()),
        dir);
    INFO(thumbnails.err.substr(thumbnails.err.size() > 2000 ? thumbnails.err.size() - 2000 : 0));
    REQUIRE(thumbnails.code == 0);
    CHECK(fs::file_size(dir.path() / "out" / "synthetic_000000.jpg") > 0);
    CHECK(fs::file_size(dir.path() / "out" / "synthetic_sheet.jpg") > 0);
    CHECK_FALSE(contains(thumbnails.err, "libopencv_imgcodecs"));
    CHECK_FALSE(contains(thumbnails.err, "libframepipe_imgcodecs"));
}

TEST_CASE("a PNG output loads OpenCV's image codecs through framepipe's plugin, and writes readable files") {
    TempDir dir;
    const CommandResult run = run_listing_libraries(
        fmt::format("run -q '{}thumbnails.yaml' synthetic --set source.frames=30 --set thumbs.dir=out "
                    "--set thumbs.file={{input}}_{{frame:06}}.png --set sheet.dir=out",
                    pipelines()),
        dir);
    REQUIRE(run.code == 0);
    CHECK(contains(run.err, "libframepipe_imgcodecs"));  // by its path: dlopen'd
    CHECK(contains(run.err, "file=libopencv_imgcodecs"));
    CHECK(decode_picture(slurp(dir.path() / "out" / "synthetic_000000.png")).size() == cv::Size(320, 180));
}
