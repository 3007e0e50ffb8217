#pragma once
// A Gaussian blur followed by an area downscale, computed as one separable linear filter evaluated only at the output's
// pixels: for a 1080p picture shrunk to 320 wide, about a thirtieth of the work of blurring every pixel and then
// averaging them. The weights reproduce cv::GaussianBlur (BORDER_REFLECT_101) then cv::resize with INTER_AREA; the
// result differs from theirs only by their intermediate rounding (well under a level).
//
// Thread-safety: AxisTaps is immutable once made; shrink_plane writes only its outputs and scratch.

#include <opencv2/core/mat.hpp>

#include <span>
#include <utility>
#include <vector>

namespace framepipe::media {

/// One axis of the filter: output o = sum over t < count[o] of weights[offset[o] + t] * input[first[o] + t].
struct AxisTaps {
    std::vector<int> first, count, offset;
    std::vector<float> weights;
    /// The same weights laid out for vector loops: output o's at window_weights[o * window], zero from count[o] on.
    /// `window` is the largest count rounded up to a multiple of 8, so a loop reading `window` inputs from first[o]
    /// reads up to window - 1 past the axis' end (shrink_plane pads its own rows with zeros there).
    int window = 0;
    std::vector<float> window_weights;

    [[nodiscard]] int outputs() const noexcept { return static_cast<int>(first.size()); }

    /// The blur `kernel` (odd length; {1} for none) over `in` samples, then an area resize to `out` samples (out <= in,
    /// as cv::resize's INTER_AREA computes it). With `subsample` 2 the taps read a plane of (in + 1) / 2 samples, each
    /// standing for two neighbours of the full-size axis (4:2:0 chroma, which swscale's unscaled YUV to BGR
    /// conversion repeats for two pixels).
    static AxisTaps blur_then_area(int in, int out, const std::vector<double>& kernel, int subsample = 1);
};

/// AxisTaps turned around: which outputs read each input sample (of a full-size axis), with what weight.
struct InverseTaps {
    std::vector<int> start;  // readers of input i: entries[start[i]] .. entries[start[i + 1]]
    std::vector<std::pair<int, float>> entries;

    static InverseTaps invert(const AxisTaps& taps, int inputs);
    [[nodiscard]] std::span<const std::pair<int, float>> readers(int input) const noexcept {
        const auto i = static_cast<std::size_t>(input);
        return {entries.data() + start[i], static_cast<std::size_t>(start[i + 1] - start[i])};
    }
};

/// Which output rows shrink_plane computes, and which input row the plane's first row is (a strip of a picture).
struct OutputRows {
    int begin = 0;
    int end = -1;  // -1: all of them
    int plane_first_row = 0;
};

/// Which loops shrink_plane runs: `best` picks AVX2 + FMA where the processor has them; `portable` is the plain C++
/// one every processor runs (the result differs by float rounding only; the tests compare the two).
enum class ShrinkKernels { best, portable };

/// Filters an 8-bit plane of 1 or 3 interleaved channels (CV_8UC1 or CV_8UC3) to floats: `out` gets y.outputs() rows
/// of x.outputs() * channels values, unrounded (with `rows`, only those, at their place in `out`; the plane must hold
/// the input rows they read). `row` is scratch, grown as needed.
void shrink_plane(const cv::Mat& plane, const AxisTaps& x, const AxisTaps& y, float* out, std::vector<float>& row,
                  OutputRows rows = {}, ShrinkKernels kernels = ShrinkKernels::best);

/// A Y'CbCr to BGR conversion's coefficients (see shrink_convert.cpp) and the range its values must stay in.
struct GamutTest {
    float cy, oy, crv, cbu, cgu, cgv;
    float low, high;
};

/// For one chroma row of a 4:2:0 picture (`luma0` and `luma1` its two luma rows, the same one for a last odd row):
/// outside[i] = 1 when some channel of some pixel of chroma sample i's 2x2 block converts to a value outside
/// [low, high], else 0. Returns how many are 1.
int outside_gamut(const unsigned char* luma0, const unsigned char* luma1, const unsigned char* u, const unsigned char* v,
                  int luma_width, const GamutTest& test, unsigned char* outside);

}  // namespace framepipe::media
