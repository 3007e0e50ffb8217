// Listing cameras: no camera is attached to the test machines, so these check what can be checked without one: which
// files are considered, their order, and that a device the driver does not answer for is named with the reason.

#include "support/media.hpp"

#include <framepipe/sources/cameras.hpp>

#include <doctest/doctest.h>

#include <fstream>

using namespace framepipe;
using framepipe::test::TempDir;

TEST_CASE("cameras: only video* nodes are considered, in natural order, and a non-device is named with the reason") {
    TempDir dev;
    for (const char* name : {"video10", "video2", "video", "null", "video1"}) std::ofstream(dev / name) << "x";
    const std::vector<CameraInfo> cameras = list_cameras(dev.path());
    REQUIRE(cameras.size() == 3);
    CHECK(cameras[0].device == dev / "video1");
    CHECK(cameras[1].device == dev / "video2");
    CHECK(cameras[2].device == dev / "video10");
    for (const CameraInfo& camera : cameras) {
        CHECK(camera.problem.find("not a V4L2 device") != std::string::npos);
        CHECK(camera.formats.empty());
    }
}

TEST_CASE("cameras: a folder without video devices lists none, and a missing folder is not an error") {
    TempDir dev;
    CHECK(list_cameras(dev.path()).empty());
    CHECK(list_cameras(dev.path() / "absent").empty());
}
