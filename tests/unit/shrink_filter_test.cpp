// The planner's shrink filter (src/media/shrink_filter.*): a Gaussian blur then an area resize, evaluated at the
// output's pixels, against OpenCV's own two steps on float pictures, on both of its loop sets (AVX2 + FMA, portable),
// for every remainder of the vector widths. Under AddressSanitizer this also checks that the vector loops read
// nothing past the rows they were given.
#include "media/shrink_filter.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <string>
#include <vector>

namespace {

using framepipe::media::AxisTaps;
using framepipe::media::OutputRows;
using framepipe::media::shrink_plane;
using framepipe::media::ShrinkKernels;

std::vector<double> gaussian(int ksize) {
    const cv::Mat kernel = cv::getGaussianKernel(ksize, 0, CV_64F);
    return {kernel.begin<double>(), kernel.end<double>()};
}

// What the declared stages compute, without their rounding to 8 bits: cv::GaussianBlur, then cv::resize INTER_AREA.
cv::Mat reference(const cv::Mat& picture, int ksize, cv::Size out) {
    cv::Mat as_float, blurred, shrunk;
    picture.convertTo(as_float, CV_32F);
    if (ksize > 1)
        cv::GaussianBlur(as_float, blurred, cv::Size(ksize, ksize), 0);
    else
        blurred = as_float;
    cv::resize(blurred, shrunk, out, 0, 0, cv::INTER_AREA);
    return shrunk;
}

cv::Mat filtered(const cv::Mat& picture, int ksize, cv::Size out, ShrinkKernels kernels, OutputRows rows = {}) {
    const AxisTaps x = AxisTaps::blur_then_area(picture.cols, out.width, ksize > 1 ? gaussian(ksize) : std::vector{1.0});
    const AxisTaps y = AxisTaps::blur_then_area(picture.rows, out.height, ksize > 1 ? gaussian(ksize) : std::vector{1.0});
    cv::Mat result(out, CV_32FC(picture.channels()), cv::Scalar::all(-1));
    std::vector<float> scratch;
    shrink_plane(picture, x, y, result.ptr<float>(), scratch, rows, kernels);
    return result;
}

cv::Mat noise(cv::Size size, int channels, unsigned seed) {
    cv::Mat picture(size, CV_8UC(channels));
    cv::RNG rng(seed);
    rng.fill(picture, cv::RNG::UNIFORM, 0, 256);
    return picture;
}

}  // namespace

TEST_CASE("shrink filter: every width remainder, 1 and 3 channels, equals blur then area resize on both loop sets") {
#if defined(__GNUC__) && defined(__x86_64__)
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    MESSAGE(std::string(avx2 ? "best: the AVX2 + FMA loops" : "no AVX2 + FMA here: best runs the portable loops too"));
#endif
    unsigned seed = 1;
    for (const int channels : {1, 3})
        for (const ShrinkKernels kernels : {ShrinkKernels::best, ShrinkKernels::portable})
            for (int width = 1; width <= 75; width += width < 9 ? 1 : 3)  // below 9: rows shorter than one window
                for (const int ksize : {1, 5, 7}) {
                    if (ksize / 2 >= width) continue;  // the planner takes only pictures wider than the blur's radius
                    const cv::Size in(width, 23 + width % 7);
                    const cv::Size out(std::max(1, std::min(width, width / 3 + width % 4)), std::max(1, in.height / 4));
                    const cv::Mat picture = noise(in, channels, seed++);
                    const double worst = cv::norm(filtered(picture, ksize, out, kernels), reference(picture, ksize, out),
                                                  cv::NORM_INF);
                    INFO(fmt::format("{} channel(s), {}x{} to {}x{}, blur {}, {} loops", channels, in.width, in.height,
                                     out.width, out.height, ksize,
                                     kernels == ShrinkKernels::best ? "best" : "portable"));
                    CHECK(worst < 0.01);  // levels: float rounding only
                }
}

TEST_CASE("shrink filter: a 1080p picture shrunk to 320 wide gives the same floats on the vector and portable loops") {
    for (const int channels : {1, 3}) {
        const cv::Mat picture = noise({1920, 1080}, channels, 7);
        const cv::Mat best = filtered(picture, 5, {320, 180}, ShrinkKernels::best);
        const cv::Mat portable = filtered(picture, 5, {320, 180}, ShrinkKernels::portable);
        INFO(channels, " channel(s)");
        CHECK(cv::norm(best, portable, cv::NORM_INF) < 0.001);
        CHECK(cv::norm(best, reference(picture, 5, {320, 180}), cv::NORM_INF) < 0.01);
    }
}

TEST_CASE("shrink filter: output rows computed from a strip of the picture equal the same rows of the whole") {
    for (const int channels : {1, 3})
        for (const ShrinkKernels kernels : {ShrinkKernels::best, ShrinkKernels::portable}) {
            INFO(channels, " channel(s), ", kernels == ShrinkKernels::best ? "best" : "portable", " loops");
            const cv::Mat picture = noise({130, 96}, channels, 11);
            const cv::Size out(40, 24);
            const cv::Mat whole = filtered(picture, 5, out, kernels);
            const AxisTaps x = AxisTaps::blur_then_area(picture.cols, out.width, gaussian(5));
            const AxisTaps y = AxisTaps::blur_then_area(picture.rows, out.height, gaussian(5));
            // Output rows 10..15 read input rows first[10] .. first[14] + count[14] - 1 only: give it just those.
            const int top = y.first[10];
            const int bottom = y.first[14] + y.count[14];
            cv::Mat strip = picture.rowRange(top, bottom).clone();
            const cv::Mat untouched(out, CV_32FC(channels), cv::Scalar::all(-1));
            cv::Mat result = untouched.clone();
            std::vector<float> scratch;
            shrink_plane(strip, x, y, result.ptr<float>(), scratch, {.begin = 10, .end = 15, .plane_first_row = top},
                         kernels);
            CHECK(cv::norm(result.rowRange(10, 15), whole.rowRange(10, 15), cv::NORM_INF) == 0);
            CHECK(cv::norm(result.rowRange(0, 10), untouched.rowRange(0, 10), cv::NORM_INF) == 0);
            CHECK(cv::norm(result.rowRange(15, out.height), untouched.rowRange(15, out.height), cv::NORM_INF) == 0);
        }
}

TEST_CASE("shrink filter: scratch left by a wide picture gives a narrow one the same result as fresh scratch") {
    for (const int channels : {1, 3}) {
        INFO(channels, " channel(s)");
        std::vector<float> scratch;
        const cv::Mat wide = noise({1000, 40}, channels, 5);
        cv::Mat wide_out(10, 250, CV_32FC(channels));
        shrink_plane(wide, AxisTaps::blur_then_area(1000, 250, gaussian(5)), AxisTaps::blur_then_area(40, 10, gaussian(5)),
                     wide_out.ptr<float>(), scratch);
        const cv::Mat narrow = noise({13, 20}, channels, 6);
        cv::Mat narrow_out(5, 4, CV_32FC(channels));
        shrink_plane(narrow, AxisTaps::blur_then_area(13, 4, gaussian(5)), AxisTaps::blur_then_area(20, 5, gaussian(5)),
                     narrow_out.ptr<float>(), scratch);
        CHECK(cv::norm(narrow_out, filtered(narrow, 5, {4, 5}, ShrinkKernels::best), cv::NORM_INF) == 0);
    }
}
