// framepipe's JPEG encoder (src/media/jpeg_encode.*) against OpenCV's: the same bytes for the same picture and
// quality, for every channel count framepipe encodes (pictures large enough that the output grows past its first
// block); libjpeg's own errors come back as a refusal, not an exit. Under AddressSanitizer this also checks that the
// error path (a longjmp out of libjpeg) leaks nothing.
#include "media/jpeg_encode.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <vector>

namespace {

using framepipe::media::encode_jpeg;

cv::Mat random_pixels(cv::Size size, int type, unsigned seed) {
    cv::Mat picture(size, type);
    cv::RNG rng(seed);
    rng.fill(picture, cv::RNG::UNIFORM, 0, CV_MAT_DEPTH(type) == CV_16U ? 300 : 256);
    return picture;
}

}  // namespace

TEST_CASE("encode_jpeg writes the bytes cv::imencode writes, for gray, BGR and BGRA pictures at every quality") {
    unsigned seed = 1;
    for (const int type : {CV_8UC1, CV_8UC3, CV_8UC4})
        for (const cv::Size size : {cv::Size(1, 1), cv::Size(17, 9), cv::Size(320, 180)})
            for (const int quality : {1, 50, 90, 100}) {
                INFO(
                    fmt::format("{} channel(s), {}x{}, quality {}", CV_MAT_CN(type), size.width, size.height, quality));
                const cv::Mat picture = random_pixels(size, type, seed++);
                std::vector<uchar> ours, opencv;
                REQUIRE(encode_jpeg(picture, quality, ours));
                REQUIRE(cv::imencode(".jpg", picture, opencv, {cv::IMWRITE_JPEG_QUALITY, quality}));
                CHECK(ours == opencv);
            }
}

TEST_CASE("encode_jpeg encodes a part of a larger picture (rows with a stride) as that part alone") {
    const cv::Mat whole = random_pixels({200, 100}, CV_8UC3, 3);
    const cv::Mat part = whole(cv::Rect(30, 20, 64, 48));
    std::vector<uchar> ours, copied;
    REQUIRE(encode_jpeg(part, 85, ours));
    REQUIRE(encode_jpeg(part.clone(), 85, copied));
    CHECK(ours == copied);
}

TEST_CASE("encode_jpeg converts a 16-bit picture to 8 bits as cv::imencode does") {
    const cv::Mat picture = random_pixels({40, 30}, CV_16UC3, 4);
    std::vector<uchar> ours, opencv;
    REQUIRE(encode_jpeg(picture, 90, ours));
    REQUIRE(cv::imencode(".jpg", picture, opencv, {cv::IMWRITE_JPEG_QUALITY, 90}));
    CHECK(ours == opencv);
}

TEST_CASE("encode_jpeg refuses what JPEG cannot hold: no pixels, two channels, wider than 65500") {
    std::vector<uchar> out;
    CHECK_FALSE(encode_jpeg(cv::Mat(), 90, out));
    CHECK_FALSE(encode_jpeg(cv::Mat(8, 8, CV_8UC2, cv::Scalar::all(1)), 90, out));
    // libjpeg itself refuses this one (JERR_IMAGE_TOO_BIG): its error comes back as false, the process goes on.
    CHECK_FALSE(encode_jpeg(cv::Mat(1, 70000, CV_8UC1, cv::Scalar(7)), 90, out));
    REQUIRE(encode_jpeg(cv::Mat(8, 8, CV_8UC1, cv::Scalar(7)), 90, out));  // and the next picture encodes
    CHECK(cv::imdecode(out, cv::IMREAD_GRAYSCALE).at<uchar>(4, 4) == 7);
}

TEST_CASE("encode_jpeg into a vector that holds an earlier, larger JPEG gives the same bytes as into an empty one") {
    std::vector<uchar> reused, fresh;
    REQUIRE(encode_jpeg(random_pixels({640, 480}, CV_8UC3, 5), 100, reused));  // grows well past the first block
    const std::size_t large = reused.size();
    const cv::Mat small = random_pixels({16, 16}, CV_8UC3, 6);
    REQUIRE(encode_jpeg(small, 75, reused));
    REQUIRE(encode_jpeg(small, 75, fresh));
    CHECK(reused.size() < large);
    CHECK(reused == fresh);
}
