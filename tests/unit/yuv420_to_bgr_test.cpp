// The YUV 4:2:0 to BGR converter (src/media/yuv420_to_bgr.*), interleaved and to planes, against swscale's own
// conversion to BGR24, the convert stage's: the same byte in every channel of every pixel, for the matrices and ranges streams carry, widths
// that leave every remainder of the 32-pixel step, and content that swscale clamps (every byte value of Y, U and V).
#include "media/yuv420_to_bgr.hpp"
#include "media/video_decode.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavutil/pixfmt.h>
}

#include <vector>

namespace {

using framepipe::media::Yuv420ToBgr;

struct Picture {
    cv::Mat y, u, v;
};

// Planes in buffers with 4 spare rows: swscale reads whole vectors past a row's last pixel.
Picture random_yuv420(int width, int height, unsigned seed) {
    const auto plane = [](int rows, int cols) { return cv::Mat(rows + 4, cols, CV_8UC1).rowRange(0, rows); };
    Picture p{plane(height, width), plane((height + 1) / 2, (width + 1) / 2), plane((height + 1) / 2, (width + 1) / 2)};
    cv::RNG rng(seed);
    for (cv::Mat* plane_ : {&p.y, &p.u, &p.v}) rng.fill(*plane_, cv::RNG::UNIFORM, 0, 256);
    return p;
}

// swscale's BGR24 for the picture, as the convert stage makes it.
cv::Mat swscale_bgr(const Picture& p, int format, int colorspace, int range) {
    const uint8_t* planes[3] = {p.y.data, p.u.data, p.v.data};
    const int strides[3] = {static_cast<int>(p.y.step), static_cast<int>(p.u.step), static_cast<int>(p.v.step)};
    const cv::Mat bgr = framepipe::media::swscale_bgr(planes, strides, p.y.cols, p.y.rows, format, colorspace, range);
    REQUIRE_FALSE(bgr.empty());
    return bgr;
}

// Calls `convert(planes, strides, rows, top)` on the picture in strips of `rows_at_once` rows from even rows, as the
// planner's route does.
template <class Convert>
void in_strips(const Picture& p, int rows_at_once, Convert&& convert) {
    for (int top = 0; top < p.y.rows; top += rows_at_once) {
        const uint8_t* planes[3] = {p.y.ptr(top), p.u.ptr(top / 2), p.v.ptr(top / 2)};
        const int strides[3] = {static_cast<int>(p.y.step), static_cast<int>(p.u.step), static_cast<int>(p.v.step)};
        convert(planes, strides, std::min(rows_at_once, p.y.rows - top), top);
    }
}

// The converter's interleaved BGR.
cv::Mat interleaved_bgr(const Yuv420ToBgr& converter, const Picture& p, int rows_at_once) {
    cv::Mat bgr(p.y.size(), CV_8UC3, cv::Scalar::all(7));
    in_strips(p, rows_at_once, [&](const uint8_t* const planes[3], const int strides[3], int rows, int top) {
        converter.convert(planes, strides, rows, bgr.ptr(top), bgr.step);
    });
    return bgr;
}

// The converter's planes, interleaved back to BGR.
cv::Mat planar_bgr(const Yuv420ToBgr& converter, const Picture& p, int rows_at_once) {
    std::vector<cv::Mat> channels;
    for (int c = 0; c < 3; ++c) channels.emplace_back(p.y.size(), CV_8UC1, cv::Scalar(7));
    in_strips(p, rows_at_once, [&](const uint8_t* const planes[3], const int strides[3], int rows, int top) {
        converter.convert_planes(planes, strides, rows, channels[0].ptr(top), channels[1].ptr(top),
                                 channels[2].ptr(top), channels[0].step);
    });
    cv::Mat bgr;
    cv::merge(channels, bgr);
    return bgr;
}

}  // namespace

TEST_CASE(
    "Yuv420ToBgr gives swscale's bytes, interleaved and in planes, for BT.601 and BT.709, limited and full range, at "
    "every width remainder") {
    struct Config {
        int format, colorspace, range;
        const char* name;
    };
    const Config configs[] = {
        {AV_PIX_FMT_YUV420P, AVCOL_SPC_BT470BG, AVCOL_RANGE_MPEG, "BT.601 limited"},
        {AV_PIX_FMT_YUV420P, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG, "BT.709 limited"},
        {AV_PIX_FMT_YUV420P, AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_UNSPECIFIED, "unspecified"},
        {AV_PIX_FMT_YUVJ420P, AVCOL_SPC_BT470BG, AVCOL_RANGE_JPEG, "JPEG full range"},
        {AV_PIX_FMT_YUV420P, AVCOL_SPC_BT709, AVCOL_RANGE_JPEG, "BT.709 full range"},
    };
    unsigned seed = 1;
    for (const Config& config : configs)
        for (const int width : {2, 16, 31, 32, 33, 63, 100, 1280, 1920})
            for (const auto loop : {Yuv420ToBgr::Loop::best, Yuv420ToBgr::Loop::portable}) {
                INFO(fmt::format("{}, {} wide, {} loop", config.name, width,
                                 loop == Yuv420ToBgr::Loop::best ? "best" : "portable"));
                const auto converter = Yuv420ToBgr::make(width, config.format, config.colorspace, config.range, loop);
                // swscale's x86 converter is what the convert stage runs on this machine; a build for another
                // processor may be refused (then the planner converts with swscale), but is never wrong.
#if defined(__x86_64__)
                REQUIRE(converter.has_value());
#else
                if (!converter) continue;
#endif
                const Picture picture = random_yuv420(width, 10, seed++);
                const cv::Mat expected = swscale_bgr(picture, config.format, config.colorspace, config.range);
                for (const int rows_at_once : {10, 4}) {
                    CHECK(cv::norm(interleaved_bgr(*converter, picture, rows_at_once), expected, cv::NORM_INF) == 0);
                    CHECK(cv::norm(planar_bgr(*converter, picture, rows_at_once), expected, cv::NORM_INF) == 0);
                }
            }
}

TEST_CASE("Yuv420ToBgr::convert_gray gives cv::cvtColor's gray of swscale's BGR, byte for byte") {
    unsigned seed = 100;
    for (const int width : {2, 33, 64, 100, 1920})
        for (const auto loop : {Yuv420ToBgr::Loop::best, Yuv420ToBgr::Loop::portable}) {
            INFO(fmt::format("{} wide, {} loop", width, loop == Yuv420ToBgr::Loop::best ? "best" : "portable"));
            const auto converter =
                Yuv420ToBgr::make(width, AV_PIX_FMT_YUV420P, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG, loop);
            REQUIRE(converter.has_value());
            const Picture picture = random_yuv420(width, 10, seed++);
            cv::Mat expected;
            cv::cvtColor(swscale_bgr(picture, AV_PIX_FMT_YUV420P, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG), expected,
                         cv::COLOR_BGR2GRAY);
            cv::Mat gray(picture.y.size(), CV_8UC1, cv::Scalar(7));
            const uint8_t* planes[3] = {picture.y.data, picture.u.data, picture.v.data};
            const int strides[3] = {static_cast<int>(picture.y.step), static_cast<int>(picture.u.step),
                                    static_cast<int>(picture.v.step)};
            converter->convert_gray(planes, strides, picture.y.rows, gray.data, gray.step);
            CHECK(cv::norm(gray, expected, cv::NORM_INF) == 0);
        }
}

TEST_CASE("Yuv420ToBgr refuses pixel formats other than 4:2:0 and pictures narrower than a chroma sample") {
    CHECK_FALSE(Yuv420ToBgr::make(64, AV_PIX_FMT_YUV422P, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG).has_value());
    CHECK_FALSE(Yuv420ToBgr::make(64, AV_PIX_FMT_NV12, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG).has_value());
    CHECK_FALSE(Yuv420ToBgr::make(1, AV_PIX_FMT_YUV420P, AVCOL_SPC_BT709, AVCOL_RANGE_MPEG).has_value());
}
