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
    const int widest = *std::max_element(taps.count.begin(), taps.count.end());
    taps.window = (widest + 7) / 8 * 8;
    taps.window_weights.assign(static_cast<std::size_t>(out) * static_cast<std::size_t>(taps.window), 0.0f);
    for (std::size_t o = 0; o < static_cast<std::size_t>(out); ++o)
        std::copy_n(taps.weights.begin() + taps.offset[o], taps.count[o],
                    taps.window_weights.begin() + static_cast<std::ptrdiff_t>(o * static_cast<std::size_t>(taps.window)));
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

namespace {

// The two passes of shrink_plane, each in a portable and an AVX2 + FMA version.
//   vertical:   out[i] = sum over t < taps of weights[t] * rows[t][i], for i < width
//   horizontal: out[o] = sum over t of x.window_weights[o * x.window + t] * in[x.first[o] + t], for every output o
//               of x; `in` holds x.window - 1 readable zeros past its samples.
void vertical_portable(const uchar* const* rows, const float* weights, int taps, int width, float* out) {
    const float w0 = weights[0];
    const uchar* const first = rows[0];
    for (int i = 0; i < width; ++i) out[i] = w0 * static_cast<float>(first[i]);
    for (int t = 1; t < taps; ++t) {
        const float w = weights[t];
        const uchar* const src = rows[t];
        for (int i = 0; i < width; ++i) out[i] += w * static_cast<float>(src[i]);
    }
}

void horizontal_portable(const float* in, const AxisTaps& x, float* out) {
    for (int o = 0; o < x.outputs(); ++o) {
        const auto at = static_cast<std::size_t>(o);
        const float* w = &x.window_weights[at * static_cast<std::size_t>(x.window)];
        const float* src = in + x.first[at];
        float sum = 0;
        for (int t = 0; t < x.count[at]; ++t) sum += w[t] * src[t];
        out[o] = sum;
    }
}

// The horizontal pass on 3 interleaved channels: out[3 o + c] = sum over t < x.count[o] of
// x.window_weights[o * x.window + t] * in[3 (x.first[o] + t) + c]; `in` holds a readable zero past its samples.
void horizontal3_portable(const float* in, const AxisTaps& x, float* out) {
    for (int o = 0; o < x.outputs(); ++o) {
        const auto at = static_cast<std::size_t>(o);
        const float* w = &x.window_weights[at * static_cast<std::size_t>(x.window)];
        const float* src = in + static_cast<std::ptrdiff_t>(x.first[at]) * 3;
        float b = 0, g = 0, r = 0;
        for (int t = 0; t < x.count[at]; ++t) {
            b += w[t] * src[3 * t];
            g += w[t] * src[3 * t + 1];
            r += w[t] * src[3 * t + 2];
        }
        out[3 * o] = b;
        out[3 * o + 1] = g;
        out[3 * o + 2] = r;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#define FRAMEPIPE_HAS_AVX2_KERNELS 1

// Eight bytes as eight floats.
__attribute__((target("avx2,fma"))) inline __m256 widen(const uchar* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// 32 columns at a time, summed over the taps in registers (one store per column instead of one per tap), in four
// independent sums so that the FMAs' latency overlaps; then 8 at a time.
__attribute__((target("avx2,fma"))) void vertical_avx2(const uchar* const* rows, const float* weights, int taps,
                                                       int width, float* out) {
    int i = 0;
    for (; i + 32 <= width; i += 32) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        for (int t = 0; t < taps; ++t) {
            const uchar* row = rows[t] + i;
            const __m256 w = _mm256_set1_ps(weights[t]);
            s0 = _mm256_fmadd_ps(w, widen(row), s0);
            s1 = _mm256_fmadd_ps(w, widen(row + 8), s1);
            s2 = _mm256_fmadd_ps(w, widen(row + 16), s2);
            s3 = _mm256_fmadd_ps(w, widen(row + 24), s3);
        }
        _mm256_storeu_ps(out + i, s0);
        _mm256_storeu_ps(out + i + 8, s1);
        _mm256_storeu_ps(out + i + 16, s2);
        _mm256_storeu_ps(out + i + 24, s3);
    }
    for (; i + 8 <= width; i += 8) {
        __m256 sum = _mm256_setzero_ps();
        for (int t = 0; t < taps; ++t) sum = _mm256_fmadd_ps(_mm256_set1_ps(weights[t]), widen(rows[t] + i), sum);
        _mm256_storeu_ps(out + i, sum);
    }
    for (; i < width; ++i) {
        float sum = 0;
        for (int t = 0; t < taps; ++t) sum += weights[t] * static_cast<float>(rows[t][i]);
        out[i] = sum;
    }
}

// The products of one output's window, 8 lanes still to be added up.
__attribute__((target("avx2,fma"))) inline __m256 window_products(const float* in, const float* w, int window) {
    __m256 sum = _mm256_mul_ps(_mm256_loadu_ps(w), _mm256_loadu_ps(in));
    for (int t = 8; t < window; t += 8) sum = _mm256_fmadd_ps(_mm256_loadu_ps(w + t), _mm256_loadu_ps(in + t), sum);
    return sum;
}

// Eight outputs at a time: their eight lane vectors added up together (a tree of horizontal adds), one store.
__attribute__((target("avx2,fma"))) void horizontal_avx2(const float* in, const AxisTaps& x, float* out) {
    const int outputs = x.outputs(), window = x.window;
    const int* first = x.first.data();
    const float* weights = x.window_weights.data();
    int o = 0;
    for (; o + 8 <= outputs; o += 8) {
        __m256 v[8];
        for (int k = 0; k < 8; ++k)
            v[k] = window_products(in + first[o + k], weights + static_cast<std::ptrdiff_t>(o + k) * window, window);
        const __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
        const __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
        const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20),
                                          _mm256_permute2f128_ps(s0123, s4567, 0x31));
        _mm256_storeu_ps(out + o, sums);
    }
    for (; o < outputs; ++o) {
        const __m256 v = window_products(in + first[o], weights + static_cast<std::ptrdiff_t>(o) * window, window);
        const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        const __m128 pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
        out[o] = _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
    }
}
// A pixel's B, G, R (and the next pixel's B, not used) at once; the next output's sums are independent of these, so
// the processor overlaps them.
__attribute__((target("avx2,fma"))) void horizontal3_avx2(const float* in, const AxisTaps& x, float* out) {
    for (int o = 0; o < x.outputs(); ++o) {
        const auto at = static_cast<std::size_t>(o);
        const float* w = &x.window_weights[at * static_cast<std::size_t>(x.window)];
        const float* src = in + static_cast<std::ptrdiff_t>(x.first[at]) * 3;
        // Even and odd taps in two sums: two dependency chains of half the length.
        __m128 even = _mm_setzero_ps(), odd = _mm_setzero_ps();
        const int count = x.count[at];
        int t = 0;
        for (; t + 2 <= count; t += 2) {
            even = _mm_fmadd_ps(_mm_set1_ps(w[t]), _mm_loadu_ps(src + 3 * t), even);
            odd = _mm_fmadd_ps(_mm_set1_ps(w[t + 1]), _mm_loadu_ps(src + 3 * t + 3), odd);
        }
        if (t < count) even = _mm_fmadd_ps(_mm_set1_ps(w[t]), _mm_loadu_ps(src + 3 * t), even);
        alignas(16) float lanes[4];
        _mm_store_ps(lanes, _mm_add_ps(even, odd));
        out[3 * o] = lanes[0];
        out[3 * o + 1] = lanes[1];
        out[3 * o + 2] = lanes[2];
    }
}
#endif

struct Kernels {
    void (*vertical)(const uchar* const*, const float*, int, int, float*);
    void (*horizontal)(const float*, const AxisTaps&, float*);
    void (*horizontal3)(const float*, const AxisTaps&, float*);
};

Kernels kernels_for(ShrinkKernels wanted) {
#ifdef FRAMEPIPE_HAS_AVX2_KERNELS
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (wanted == ShrinkKernels::best && avx2) return {vertical_avx2, horizontal_avx2, horizontal3_avx2};
#else
    (void)wanted;
#endif
    return {vertical_portable, horizontal_portable, horizontal3_portable};
}

}  // namespace

void shrink_plane(const cv::Mat& plane, const AxisTaps& x, const AxisTaps& y, float* out, std::vector<float>& row,
                  OutputRows rows_wanted, ShrinkKernels wanted) {
    const int channels = plane.channels();
    if (plane.depth() != CV_8U || (channels != 1 && channels != 3))
        throw std::invalid_argument("shrink_plane: the plane must be 8-bit with 1 or 3 channels");
    const Kernels kernels = kernels_for(wanted);
    const auto padded = static_cast<std::size_t>(x.outputs()) * static_cast<std::size_t>(x.window);
    if (x.window < 8 || x.window_weights.size() != padded)
        throw std::invalid_argument("shrink_plane: the taps must come from AxisTaps::blur_then_area");
    // Scratch: the vertical pass's row (channels interleaved), followed by zeros the horizontal pass reads past its
    // end: up to x.window - 1 of them, or one for the 3-channel pass's fourth lane (window is at least 8).
    const int width = plane.cols * channels;
    const int pad = std::max(x.window, 4);
    row.resize(static_cast<std::size_t>(width + pad));
    float* const summed = row.data();
    std::fill_n(summed + width, pad, 0.0f);

    // The rows and weights of one output row's taps: kept per thread, as the planner calls this for every strip.
    thread_local std::vector<const uchar*> sources;
    thread_local std::vector<float> weights;
    const int out_width = x.outputs();
    const int end = rows_wanted.end < 0 ? y.outputs() : rows_wanted.end;
    for (int oy = rows_wanted.begin; oy < end; ++oy) {
        const auto at = static_cast<std::size_t>(oy);
        const float* wy = &y.weights[static_cast<std::size_t>(y.offset[at])];
        const int first_row = y.first[at] - rows_wanted.plane_first_row;
        sources.clear();
        weights.clear();
        for (int t = 0; t < y.count[at]; ++t)
            if (wy[t] != 0.0f) {
                sources.push_back(plane.ptr<uchar>(first_row + t));
                weights.push_back(wy[t]);
            }
        if (sources.empty()) {  // cannot happen for weights that sum to 1; keeps the kernels' taps >= 1
            sources.push_back(plane.ptr<uchar>(first_row));
            weights.push_back(0.0f);
        }
        kernels.vertical(sources.data(), weights.data(), static_cast<int>(sources.size()), width, summed);
        float* dst = out + static_cast<std::ptrdiff_t>(oy) * out_width * channels;
        if (channels == 1)
            kernels.horizontal(summed, x, dst);
        else
            kernels.horizontal3(summed, x, dst);
    }
}

// Built for AVX2 as well as the baseline, the better chosen when the library loads (GCC's function multi-versioning).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FRAMEPIPE_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FRAMEPIPE_VECTOR_CLONES
#endif

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
