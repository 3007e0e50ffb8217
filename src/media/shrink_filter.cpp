#include "shrink_filter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace framepipe::media {
namespace {

int reflect_101(int p, int n) {
    if (n == 1) return 0;
    while (p < 0 || p >= n) p = p < 0 ? -p : 2 * n - 2 - p;
    return p;
}

// cv::resize's INTER_AREA weights for output `o` (computeResizeAreaTab in OpenCV's resize.cpp): the input samples the
// output's cell covers, each by the share of the cell it covers.
void add_area_cell(int in, double scale, int o, std::vector<std::pair<int, double>>& cell) {
    const double from = o * scale;
    const double to = from + scale;
    const double cell_width = std::min(scale, in - from);
    int first = static_cast<int>(std::ceil(from));
    int last = std::min(static_cast<int>(std::floor(to)), in - 1);
    first = std::min(first, last);
    if (first - from > 1e-3) cell.emplace_back(first - 1, (first - from) / cell_width);
    for (int s = first; s < last; ++s) cell.emplace_back(s, 1.0 / cell_width);
    if (to - last > 1e-3) cell.emplace_back(last, std::min(std::min(to - last, 1.0), cell_width) / cell_width);
}

}  // namespace

AxisTaps AxisTaps::blur_then_area(int in, int out, const std::vector<double>& kernel, int subsample) {
    if (in <= 0 || out <= 0 || out > in || kernel.empty() || kernel.size() % 2 == 0 || subsample < 1)
        throw std::invalid_argument("AxisTaps::blur_then_area: bad geometry");
    const int radius = static_cast<int>(kernel.size() / 2);
    const int samples = (in + subsample - 1) / subsample;
    const double scale = 1.0 / (static_cast<double>(out) / in);  // as cv::resize derives it
    AxisTaps taps;
    std::vector<double> dense;
    std::vector<std::pair<int, double>> cell;
    for (int o = 0; o < out; ++o) {
        cell.clear();
        add_area_cell(in, scale, o, cell);
        int lo = samples, hi = -1;
        for (const auto& [s, w] : cell)
            for (int t = -radius; t <= radius; ++t) {
                const int p = reflect_101(s + t, in) / subsample;
                lo = std::min(lo, p);
                hi = std::max(hi, p);
            }
        dense.assign(static_cast<std::size_t>(hi - lo + 1), 0.0);
        for (const auto& [s, w] : cell)
            for (int t = -radius; t <= radius; ++t)
                dense[static_cast<std::size_t>(reflect_101(s + t, in) / subsample - lo)] +=
                    w * kernel[static_cast<std::size_t>(t + radius)];
        taps.first.push_back(lo);
        taps.count.push_back(hi - lo + 1);
        taps.offset.push_back(static_cast<int>(taps.weights.size()));
        for (const double w : dense) taps.weights.push_back(static_cast<float>(w));
    }
    return taps;
}

InverseTaps InverseTaps::invert(const AxisTaps& taps, int inputs) {
    std::vector<std::vector<std::pair<int, float>>> by_input(static_cast<std::size_t>(inputs));
    for (int o = 0; o < taps.outputs(); ++o) {
        const auto at = static_cast<std::size_t>(o);
        for (int t = 0; t < taps.count[at]; ++t) {
            const float w = taps.weights[static_cast<std::size_t>(taps.offset[at] + t)];
            if (w != 0.0f) by_input[static_cast<std::size_t>(taps.first[at] + t)].emplace_back(o, w);
        }
    }
    InverseTaps inverse;
    for (const auto& readers : by_input) {
        inverse.start.push_back(static_cast<int>(inverse.entries.size()));
        inverse.entries.insert(inverse.entries.end(), readers.begin(), readers.end());
    }
    inverse.start.push_back(static_cast<int>(inverse.entries.size()));
    return inverse;
}

// Built for AVX2 and FMA as well as the baseline, the better chosen when the library loads (GCC's function
// multi-versioning): the vertical pass is twice as wide there.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FRAMEPIPE_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FRAMEPIPE_VECTOR_CLONES
#endif

FRAMEPIPE_VECTOR_CLONES
void shrink_plane(const cv::Mat& plane, const AxisTaps& x, const AxisTaps& y, float* out, std::vector<float>& row,
                  OutputRows rows_wanted) {
    const int channels = plane.channels();
    if (plane.depth() != CV_8U || (channels != 1 && channels != 3))
        throw std::invalid_argument("shrink_plane: the plane must be 8-bit with 1 or 3 channels");
    const int width = plane.cols * channels;
    row.resize(static_cast<std::size_t>(width) + 1);  // + 1: the 3-channel pass below reads 4 floats at a time
    float* const r = row.data();
    const int out_width = x.outputs();
    const int end = rows_wanted.end < 0 ? y.outputs() : rows_wanted.end;
    for (int oy = rows_wanted.begin; oy < end; ++oy) {
        // Vertical first, across the whole width: contiguous multiply-adds the compiler vectorises.
        const float* wy = &y.weights[static_cast<std::size_t>(y.offset[static_cast<std::size_t>(oy)])];
        const int first_row = y.first[static_cast<std::size_t>(oy)] - rows_wanted.plane_first_row;
        const int rows = y.count[static_cast<std::size_t>(oy)];
        {
            const uchar* src = plane.ptr<uchar>(first_row);
            const float w = wy[0];
            for (int i = 0; i < width; ++i) r[i] = w * static_cast<float>(src[i]);
        }
        for (int t = 1; t < rows; ++t) {
            const float w = wy[t];
            if (w == 0.0f) continue;
            const uchar* src = plane.ptr<uchar>(first_row + t);
            for (int i = 0; i < width; ++i) r[i] += w * static_cast<float>(src[i]);
        }
        // Then horizontally, at the output's samples only.
        float* dst = out + static_cast<std::ptrdiff_t>(oy) * out_width * channels;
        for (int ox = 0; ox < out_width; ++ox) {
            const float* wx = &x.weights[static_cast<std::size_t>(x.offset[static_cast<std::size_t>(ox)])];
            const int n = x.count[static_cast<std::size_t>(ox)];
            const float* src = r + static_cast<std::ptrdiff_t>(x.first[static_cast<std::size_t>(ox)]) * channels;
            if (channels == 1) {
                float sum = 0;
                for (int t = 0; t < n; ++t) sum += wx[t] * src[t];
                dst[ox] = sum;
            } else {
#if defined(__SSE2__)
                // B, G, R and the next pixel's B at once; the fourth lane is thrown away.
                __m128 sum = _mm_setzero_ps();
                for (int t = 0; t < n; ++t) sum = _mm_add_ps(sum, _mm_mul_ps(_mm_set1_ps(wx[t]), _mm_loadu_ps(src + 3 * t)));
                alignas(16) float lanes[4];
                _mm_store_ps(lanes, sum);
                dst[3 * ox] = lanes[0];
                dst[3 * ox + 1] = lanes[1];
                dst[3 * ox + 2] = lanes[2];
#else
                float b = 0, g = 0, red = 0;
                for (int t = 0; t < n; ++t) {
                    b += wx[t] * src[3 * t];
                    g += wx[t] * src[3 * t + 1];
                    red += wx[t] * src[3 * t + 2];
                }
                dst[3 * ox] = b;
                dst[3 * ox + 1] = g;
                dst[3 * ox + 2] = red;
#endif
            }
        }
    }
}

FRAMEPIPE_VECTOR_CLONES
int outside_gamut(const unsigned char* luma0, const unsigned char* luma1, const unsigned char* u, const unsigned char* v,
                  int luma_width, const GamutTest& g, unsigned char* outside) {
    // Locals, not g's fields: `outside` may alias anything, which would keep the loop from being vectorised.
    const float cy = g.cy, oy = g.oy, crv = g.crv, cbu = g.cbu, cgu = g.cgu, cgv = g.cgv, low = g.low, high = g.high;
    // Each channel is monotonic in Y: a block's extremes are at its darkest and its brightest pixel. Branch-free
    // (& rather than &&), so it vectorises.
    const auto test = [=](int darkest, int brightest, int cb_value, int cr_value) {
        const float y0 = cy * (static_cast<float>(darkest) - oy), y1 = cy * (static_cast<float>(brightest) - oy);
        const float cb = static_cast<float>(cb_value) - 128.0f, cr = static_cast<float>(cr_value) - 128.0f;
        const float blue = cbu * cb, red = crv * cr, green = -cgu * cb - cgv * cr;
        const bool inside = (y0 + blue >= low) & (y1 + blue <= high) & (y0 + red >= low) & (y1 + red <= high) &
                            (y0 + green >= low) & (y1 + green <= high);
        return static_cast<unsigned char>(inside ? 0 : 1);
    };
    const int pairs = luma_width / 2;
    for (int i = 0; i < pairs; ++i) {
        const int a = luma0[2 * i], b = luma0[2 * i + 1], c = luma1[2 * i], d = luma1[2 * i + 1];
        outside[i] = test(std::min(std::min(a, b), std::min(c, d)), std::max(std::max(a, b), std::max(c, d)), u[i], v[i]);
    }
    const int samples = (luma_width + 1) / 2;
    if (luma_width % 2 != 0) {  // a last odd column: its chroma sample covers one column
        const int a = luma0[luma_width - 1], c = luma1[luma_width - 1];
        outside[pairs] = test(std::min(a, c), std::max(a, c), u[pairs], v[pairs]);
    }
    int count = 0;
    for (int i = 0; i < samples; ++i) count += outside[i];
    return count;
}

}  // namespace framepipe::media
