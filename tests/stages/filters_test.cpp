// Filters on frames built in the test: expected sizes, pixels and properties, and option checking.
#include "stages/template_text.hpp"
#include "support/local_time.hpp"
#include "support/stage_harness.hpp"

#include <framepipe/error.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>


using namespace framepipe;
using namespace framepipe::test;

namespace {
cv::Mat gradient(int w, int h) {
    cv::Mat m(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x % 256), uchar(y % 256), uchar((x + y) % 256));
    return m;
}
cv::Mat solid(int w, int h, cv::Scalar color) { return cv::Mat(h, w, CV_8UC3, color); }
}  // namespace

TEST_CASE("resize: a width alone keeps the aspect ratio; a scale multiplies; both sizes are exact") {
    {
        StageHarness resize("resize", {{"width", "320"}});
        CHECK(resize.apply(gradient(640, 480)) == Outcome::pass);
        CHECK(resize.image().size() == cv::Size(320, 240));
    }
    {
        StageHarness resize("resize", {{"height", "90"}});
        resize.apply(gradient(640, 360));
        CHECK(resize.image().size() == cv::Size(160, 90));
    }
    {
        StageHarness resize("resize", {{"scale", "0.5"}});
        resize.apply(gradient(300, 200));
        CHECK(resize.image().size() == cv::Size(150, 100));
    }
    {
        StageHarness resize("resize", {{"width", "100"}, {"height", "100"}});
        resize.apply(gradient(640, 480));
        CHECK(resize.image().size() == cv::Size(100, 100));
    }
    {  // a solid colour stays that colour through area interpolation
        StageHarness resize("resize", {{"width", "50"}});
        resize.apply(solid(200, 100, {10, 20, 30}));
        REQUIRE(resize.image().size() == cv::Size(50, 25));
        CHECK(resize.image().at<cv::Vec3b>(12, 25) == cv::Vec3b(10, 20, 30));
    }
}

TEST_CASE("resize: bad options are refused with what is allowed") {
    CHECK_THROWS_WITH_AS(make_stage("resize"), doctest::Contains("needs a width, a height"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("resize", {{"width", "-5"}}),
                         "option 'width' must be a whole number between 0 and 16384, got '-5'", ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("resize", {{"width", "10"}, {"interpolation", "fancy"}}),
                         "option 'interpolation' must be one of auto, area, linear, cubic, nearest, got 'fancy'",
                         ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("resize", {{"widht", "10"}}), doctest::Contains("has no option 'widht'"),
                         ConfigError);
}

TEST_CASE("crop: centred by default, exact pixels, clipped to the image, refused when outside it") {
    const cv::Mat source = gradient(640, 480);
    {
        StageHarness crop("crop", {{"width", "100"}, {"height", "50"}});
        crop.apply(source);
        REQUIRE(crop.image().size() == cv::Size(100, 50));
        CHECK(cv::norm(crop.image(), source(cv::Rect(270, 215, 100, 50)), cv::NORM_INF) == 0);
    }
    {
        StageHarness crop("crop", {{"x", "600"}, {"y", "0"}, {"width", "100"}, {"height", "10"}});
        crop.apply(source);
        CHECK(crop.image().size() == cv::Size(40, 10));
    }
    {
        StageHarness crop("crop", {{"x", "700"}, {"y", "0"}, {"width", "10"}, {"height", "10"}});
        CHECK_THROWS_AS(crop.apply(source), BadFrame);
    }
}

TEST_CASE("rotate and flip move pixels where they should") {
    cv::Mat image = solid(40, 20, {0, 0, 0});
    image.at<cv::Vec3b>(0, 0) = cv::Vec3b(255, 255, 255);  // top-left
    {
        StageHarness rotate("rotate", {{"angle", "90"}});
        rotate.apply(image);
        REQUIRE(rotate.image().size() == cv::Size(20, 40));
        CHECK(rotate.image().at<cv::Vec3b>(0, 19) == cv::Vec3b(255, 255, 255));  // now top-right
    }
    {
        StageHarness rotate("rotate", {{"angle", "180"}});
        rotate.apply(image);
        CHECK(rotate.image().at<cv::Vec3b>(19, 39) == cv::Vec3b(255, 255, 255));
    }
    {
        StageHarness flip("flip", {{"axis", "horizontal"}});
        flip.apply(image);
        CHECK(flip.image().at<cv::Vec3b>(0, 39) == cv::Vec3b(255, 255, 255));
    }
    {
        StageHarness flip("flip", {{"axis", "vertical"}});
        flip.apply(image);
        CHECK(flip.image().at<cv::Vec3b>(19, 0) == cv::Vec3b(255, 255, 255));
    }
}

TEST_CASE("color: to gray gives one channel of luma; back to BGR gives three equal channels") {
    StageHarness gray("color", {{"to", "gray"}});
    gray.apply(solid(8, 8, {0, 0, 255}));  // pure red
    REQUIRE(gray.image().channels() == 1);
    CHECK(gray.current().format == PixelFormat::gray);
    CHECK(gray.image().at<uchar>(0, 0) == 76);  // 0.299 * 255
    StageHarness bgr("color", {{"to", "bgr"}});
    bgr.apply(cv::Mat(8, 8, CV_8UC1, cv::Scalar(90)));
    CHECK(bgr.image().at<cv::Vec3b>(3, 3) == cv::Vec3b(90, 90, 90));
    CHECK(bgr.current().format == PixelFormat::bgr);
}

TEST_CASE("blur spreads a point and leaves a flat picture flat; median blur removes salt noise") {
    cv::Mat point = solid(21, 21, {0, 0, 0});
    point.at<cv::Vec3b>(10, 10) = cv::Vec3b(255, 255, 255);
    StageHarness blur("blur", {{"ksize", "5"}});
    blur.apply(point);
    CHECK(blur.image().at<cv::Vec3b>(10, 10)[0] < 255);
    CHECK(blur.image().at<cv::Vec3b>(10, 11)[0] > 0);
    CHECK(blur.image().at<cv::Vec3b>(10, 14)[0] == 0);  // outside the 5x5 kernel
    blur.apply(solid(21, 21, {7, 8, 9}));
    CHECK(blur.image().at<cv::Vec3b>(5, 5) == cv::Vec3b(7, 8, 9));
    CHECK_THROWS_WITH_AS(make_stage("blur", {{"ksize", "4"}}), "blur: option 'ksize' must be odd, got 4", ConfigError);

    cv::Mat noisy = solid(21, 21, {50, 50, 50});
    noisy.at<cv::Vec3b>(7, 7) = cv::Vec3b(255, 255, 255);
    StageHarness median("median_blur", {{"ksize", "3"}});
    median.apply(noisy);
    CHECK(median.image().at<cv::Vec3b>(7, 7) == cv::Vec3b(50, 50, 50));
}

TEST_CASE("sharpen raises the contrast of an edge") {
    cv::Mat edge = solid(40, 40, {60, 60, 60});
    edge(cv::Rect(20, 0, 20, 40)).setTo(cv::Scalar(180, 180, 180));
    cv::GaussianBlur(edge, edge, cv::Size(5, 5), 0);
    cv::Scalar before_mean, before_std;
    cv::meanStdDev(edge, before_mean, before_std);
    StageHarness sharpen("sharpen", {{"amount", "1.5"}, {"radius", "1.0"}});
    sharpen.apply(edge);
    cv::Scalar after_mean, after_std;
    cv::meanStdDev(sharpen.image(), after_mean, after_std);
    CHECK(after_std[0] > before_std[0]);
    CHECK(sharpen.image().at<cv::Vec3b>(20, 21)[0] > edge.at<cv::Vec3b>(20, 21)[0]);  // the bright side gets brighter
}

TEST_CASE("canny finds the outline of a square and nothing inside it") {
    cv::Mat square = solid(100, 100, {0, 0, 0});
    square(cv::Rect(30, 30, 40, 40)).setTo(cv::Scalar(255, 255, 255));
    StageHarness canny("canny", {{"low", "50"}, {"high", "150"}});
    canny.apply(square);
    REQUIRE(canny.image().type() == CV_8UC1);
    CHECK(canny.current().format == PixelFormat::gray);
    CHECK(cv::countNonZero(canny.image()(cv::Rect(28, 28, 44, 44))) > 100);  // the outline
    CHECK(cv::countNonZero(canny.image()(cv::Rect(40, 40, 20, 20))) == 0);   // the inside
    CHECK(cv::countNonZero(canny.image()(cv::Rect(0, 0, 20, 20))) == 0);     // the background
    StageHarness canny3("canny", {{"channels", "3"}});
    canny3.apply(square);
    CHECK(canny3.image().type() == CV_8UC3);
    CHECK_THROWS_AS(make_stage("canny", {{"low", "200"}, {"high", "100"}}), ConfigError);
}

TEST_CASE("brightness_contrast adds brightness and stretches around mid-gray, saturating") {
    StageHarness brighter("brightness_contrast", {{"brightness", "20"}});
    brighter.apply(solid(4, 4, {100, 250, 0}));
    CHECK(brighter.image().at<cv::Vec3b>(0, 0) == cv::Vec3b(120, 255, 20));
    StageHarness contrast("brightness_contrast", {{"contrast", "2"}});
    contrast.apply(solid(4, 4, {100, 128, 200}));
    CHECK(contrast.image().at<cv::Vec3b>(0, 0) == cv::Vec3b(72, 128, 255));
}

TEST_CASE("text draws its template where asked and refuses an unknown field") {
    StageHarness text("text", {{"text", "{input} {frame:04} {time}"}, {"position", "bottom-left"}});
    const cv::Mat black = solid(320, 120, {0, 0, 0});
    text.apply(black, 42);
    const cv::Mat drawn = text.image();
    cv::Mat gray;
    cv::cvtColor(drawn, gray, cv::COLOR_BGR2GRAY);
    CHECK(cv::countNonZero(gray(cv::Rect(0, 60, 320, 60))) > 50);  // something written at the bottom
    CHECK(cv::countNonZero(gray(cv::Rect(0, 0, 320, 40))) == 0);   // nothing at the top
    CHECK_THROWS_WITH_AS(make_stage("text", {{"text", "{inptu}"}}), doctest::Contains("is not a valid template"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("text", {{"color", "mauve"}}), doctest::Contains("is not a colour"), ConfigError);
}

TEST_CASE("text: {clock} is the run clock's calendar time when the frame is drawn, across a new year in simulated "
          "wall time") {
    ManualClock clock;
    clock.set_wall(local_time(2026, 12, 31, 23, 59, 59) + std::chrono::milliseconds(500));
    Frame frame;
    const auto text = [&] { return stages::render_template("{clock}", {"cam", frame, 0, false, &clock}); };
    const auto name = [&] { return stages::render_template("{input}_{clock}.jpg", {"cam", frame, 0, true, &clock}); };
    CHECK(text() == "2026-12-31 23:59:59");
    CHECK(name() == "cam_20261231-235959.jpg");
    clock.advance(std::chrono::milliseconds(499));
    CHECK(text() == "2026-12-31 23:59:59");
    clock.advance(std::chrono::milliseconds(1));
    CHECK(text() == "2027-01-01 00:00:00");
    CHECK(name() == "cam_20270101-000000.jpg");
    // The stage draws what it renders: the frame before and the frame after the rollover differ where the clock is.
    StageHarness stage("text", {{"text", "{clock}"}, {"position", "top-left"}}, "cam", 25, &clock);
    const cv::Mat black = solid(320, 120, {0, 0, 0});
    clock.advance(std::chrono::milliseconds(-1));
    stage.apply(black, 0);
    const cv::Mat before = stage.image().clone();
    stage.apply(black, 1);
    CHECK(cv::norm(before, stage.image(), cv::NORM_INF) == 0);  // the same second: the same picture
    clock.advance(std::chrono::milliseconds(1));
    stage.apply(black, 2);
    CHECK(cv::norm(before, stage.image(), cv::NORM_INF) > 0);
}

TEST_CASE("decimate keeps every Nth frame, or thins to a rate by media time") {
    StageHarness every("decimate", {{"every", "3"}});
    std::vector<std::uint64_t> kept;
    for (std::uint64_t i = 0; i < 10; ++i)
        if (every.apply(solid(4, 4, {0, 0, 0}), i) == Outcome::pass) kept.push_back(i);
    CHECK(kept == std::vector<std::uint64_t>{0, 3, 6, 9});
    StageHarness rate("decimate", {{"fps", "5"}}, "clip.mp4", 25);
    kept.clear();
    for (std::uint64_t i = 0; i < 25; ++i)
        if (rate.apply(solid(4, 4, {0, 0, 0}), i) == Outcome::pass) kept.push_back(i);
    CHECK(kept == std::vector<std::uint64_t>{0, 5, 10, 15, 20});
    CHECK_THROWS_AS(make_stage("decimate", {{"every", "2"}, {"fps", "5"}}), ConfigError);
}

TEST_CASE("filters refuse frames that are not decoded pixels") {
    StageHarness blur("blur");
    Frame& encoded = blur.frame(solid(4, 4, {0, 0, 0}));
    encoded.format = PixelFormat::encoded;
    CHECK_THROWS_WITH_AS(blur.stage().process(encoded), doctest::Contains("needs decoded pixels"), BadFrame);
}
