// Pictures in OpenCV's formats through the imgcodecs plugin that libframepipe loads on first use
// (src/media/image_codecs.*): what they encode and decode is what cv::imencode and cv::imdecode do; JPEG goes to
// framepipe's own encoder, whatever the case of its extension.
#include "media/image_codecs.hpp"

#include <doctest/doctest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <string>
#include <vector>

namespace {

using framepipe::media::decode_image;
using framepipe::media::encode_image;

cv::Mat random_bgr(cv::Size size, unsigned seed) {
    cv::Mat picture(size, CV_8UC3);
    cv::RNG rng(seed);
    rng.fill(picture, cv::RNG::UNIFORM, 0, 256);
    return picture;
}

}  // namespace

TEST_CASE("encode_image writes PNG, WebP and BMP as cv::imencode does, and decode_image reads them back") {
    const cv::Mat picture = random_bgr({33, 21}, 1);
    for (const std::string extension : {".png", ".webp", ".bmp"}) {
        INFO(extension);
        const std::vector<int> parameters =
            extension == ".webp" ? std::vector<int>{cv::IMWRITE_WEBP_QUALITY, 101} : std::vector<int>{};  // lossless
        std::vector<uchar> ours, opencv;
        REQUIRE(encode_image(extension, picture, parameters, ours));
        REQUIRE(cv::imencode(extension, picture, opencv, parameters));
        CHECK(ours == opencv);
        cv::Mat decoded;
        decode_image(ours, cv::IMREAD_COLOR, decoded);
        REQUIRE(decoded.size() == picture.size());
        CHECK(cv::norm(decoded, picture, cv::NORM_INF) == 0);
    }
}

TEST_CASE("encode_image sends JPEG in any case of its extension to framepipe's encoder, with its quality") {
    const cv::Mat picture = random_bgr({64, 48}, 2);
    std::vector<uchar> opencv;
    REQUIRE(cv::imencode(".jpg", picture, opencv, {cv::IMWRITE_JPEG_QUALITY, 70}));
    for (const std::string extension : {".jpg", ".JPG", ".jpeg", ".Jpe"}) {
        INFO(extension);
        std::vector<uchar> ours;
        REQUIRE(encode_image(extension, picture, {cv::IMWRITE_JPEG_QUALITY, 70}, ours));
        CHECK(ours == opencv);
    }
}

TEST_CASE("decode_image leaves no picture for bytes that are none, and for no bytes") {
    cv::Mat decoded = random_bgr({4, 4}, 3);
    const std::vector<uchar> text{'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
    decode_image(text, cv::IMREAD_COLOR, decoded);
    CHECK(decoded.empty());
    decoded = random_bgr({4, 4}, 4);
    decode_image({}, cv::IMREAD_COLOR, decoded);
    CHECK(decoded.empty());
}
