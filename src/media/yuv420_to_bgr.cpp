#include "yuv420_to_bgr.hpp"

#include "video_decode.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace framepipe::media {
namespace {

using Coefficients = Yuv420ToBgr::Coefficients;

// swscale's roundToInt16 (libswscale/yuv2rgb.c): a 16.16 value rounded to an integer, clamped to 16 bits.
std::int16_t round_to_int16(std::int64_t f) {
    const auto r = static_cast<int>((f + (1 << 15)) >> 16);
    if (r < -0x7FFF) return static_cast<std::int16_t>(-0x8000);
    return static_cast<std::int16_t>(std::min(r, 0x7FFF));
}

// ff_yuv2rgb_c_init_tables with brightness 0, contrast and saturation 1 (what bgr_converter sets).
Coefficients coefficients_of(int colorspace, bool full_range) {
    const int* table = sws_getCoefficients(swscale_matrix_of(colorspace));
    std::int64_t crv = table[0], cbu = table[1], cgu = -table[2], cgv = -table[3];
    std::int64_t cy = 1 << 16, oy = 0;
    if (!full_range) {
        cy = cy * 255 / 219;
        oy = 16 << 16;
    } else {
        crv = crv * 224 / 255;
        cbu = cbu * 224 / 255;
        cgu = cgu * 224 / 255;
        cgv = cgv * 224 / 255;
    }
    return {round_to_int16(cy * 8192),  round_to_int16(oy * 8),     round_to_int16(cbu * 8192),
            round_to_int16(cgu * 8192), round_to_int16(cgv * 8192), round_to_int16(crv * 8192)};
}

// The 16-bit operations of swscale's loop, one lane at a time.
int saturate16(int x) { return std::clamp(x, -32768, 32767); }
int high16(int a, int b) { return (a * b) >> 16; }  // pmulhw
std::uint8_t clamp8(int x) { return static_cast<std::uint8_t>(std::clamp(x, 0, 255)); }

// OpenCV 4's BGR to gray for 8 bits (cv::cvtColor, COLOR_BGR2GRAY): 0.114, 0.587 and 0.299 in 1/32768, rounded
// (found by comparing with cv::cvtColor on a million random colours; the unit test holds it to every byte).
constexpr int kGrayB = 3735, kGrayG = 19235, kGrayR = 9798, kGrayShift = 15;
std::uint8_t gray_of(int b, int g, int r) {
    return static_cast<std::uint8_t>((b * kGrayB + g * kGrayG + r * kGrayR + (1 << (kGrayShift - 1))) >> kGrayShift);
}

using Output = Yuv420ToBgr::Output;

// Pixels [from, width) of a row into `out` (see Yuv420ToBgr::convert_rows).
void convert_row_portable(const std::uint8_t* y, const std::uint8_t* u, const std::uint8_t* v, int from, int width,
                          const Coefficients& c, Output output, const std::array<std::uint8_t*, 3>& out) {
    for (int x = from; x < width; ++x) {
        const int luma = high16(static_cast<std::int16_t>((y[x] << 3) - c.y_offset), c.y);
        const int cb = saturate16((u[x / 2] << 3) - 1024);
        const int cr = saturate16((v[x / 2] << 3) - 1024);
        const int green = saturate16(high16(cb, c.ug) + high16(cr, c.vg));
        const std::uint8_t blue8 = clamp8(saturate16(luma + high16(cb, c.ub)));
        const std::uint8_t green8 = clamp8(saturate16(luma + green));
        const std::uint8_t red8 = clamp8(saturate16(luma + high16(cr, c.vr)));
        const auto i = static_cast<std::size_t>(x);
        switch (output) {
            case Output::bgr:
                out[0][3 * i] = blue8;
                out[0][3 * i + 1] = green8;
                out[0][3 * i + 2] = red8;
                break;
            case Output::planes:
                out[0][i] = blue8;
                out[1][i] = green8;
                out[2][i] = red8;
                break;
            case Output::gray:
                out[0][i] = gray_of(blue8, green8, red8);
                break;
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FRAMEPIPE_HAS_AVX2_CONVERT 1
// Where packus(even, odd) puts pixel p of a 128-bit lane's 16: the 8 even pixels first, then the 8 odd ones.
constexpr int packed_position(int p) { return p % 2 == 0 ? p / 2 : 8 + p / 2; }

// Clamps 16 even and 16 odd pixels' values to bytes and stores them in pixel order.
__attribute__((target("avx2"))) inline void store_pixels(std::uint8_t* out, __m256i even, __m256i odd) {
    const __m256i pixel_order = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,  //
                                                 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    const __m256i packed = _mm256_packus_epi16(even, odd);  // per 128-bit lane: 8 even pixels, then the 8 odd ones
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_shuffle_epi8(packed, pixel_order));
}

// Byte shuffles that interleave a lane's 16 pixels of B, G and R (each as packus leaves them) into the 48 bytes of
// BGR: masks[k][c] moves channel c's bytes into the 16 output bytes 16k to 16k + 15 of the lane (0x80: none).
struct InterleaveMasks {
    alignas(32) std::uint8_t masks[3][3][32];
};
constexpr InterleaveMasks make_interleave_masks() {
    InterleaveMasks m{};
    for (int k = 0; k < 3; ++k)
        for (int c = 0; c < 3; ++c)
            for (int i = 0; i < 32; ++i) {
                const int j = 16 * k + i % 16;  // the output byte within the lane's 48
                m.masks[k][c][i] = static_cast<std::uint8_t>(j % 3 == c ? packed_position(j / 3) : 0x80);
            }
    return m;
}
constexpr InterleaveMasks kInterleave = make_interleave_masks();
__attribute__((target("avx2"))) inline __m256i interleave_mask(int k, int c) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(kInterleave.masks[k][c]));
}

// Clamps 32 pixels' B, G and R (even and odd pixels in 16-bit lanes, as pixels32 gives them) and stores their 96
// bytes of BGR.
__attribute__((target("avx2"))) inline void store_bgr(std::uint8_t* out, const __m256i p[6]) {
    const __m256i channels[3] = {_mm256_packus_epi16(p[0], p[1]), _mm256_packus_epi16(p[2], p[3]),
                                 _mm256_packus_epi16(p[4], p[5])};
    __m256i chunk[3];  // per 128-bit lane: bytes 0-15, 16-31 and 32-47 of the lane's 16 pixels
    for (int k = 0; k < 3; ++k) {
        chunk[k] = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(channels[0], interleave_mask(k, 0)),
                                                   _mm256_shuffle_epi8(channels[1], interleave_mask(k, 1))),
                                   _mm256_shuffle_epi8(channels[2], interleave_mask(k, 2)));
    }
    // The low lane holds pixels 0-15 (bytes 0-47), the high lane pixels 16-31 (bytes 48-95).
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(chunk[0], chunk[1], 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32), _mm256_permute2x128_si256(chunk[2], chunk[0], 0x30));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64), _mm256_permute2x128_si256(chunk[1], chunk[2], 0x31));
}

// 16 luma samples (in 16-bit lanes) as swscale scales them: ((Y << 3) - offset) * coefficient, high 16 bits.
__attribute__((target("avx2"))) inline __m256i scaled_luma(__m256i samples, __m256i offset, __m256i coefficient) {
    return _mm256_mulhi_epi16(_mm256_sub_epi16(_mm256_slli_epi16(samples, 3), offset), coefficient);
}

// 16 chroma samples as swscale offsets them: (C << 3) - 1024, with saturation.
__attribute__((target("avx2"))) inline __m256i scaled_chroma(const std::uint8_t* p) {
    const __m256i samples = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_subs_epi16(_mm256_slli_epi16(samples, 3), _mm256_set1_epi16(1024));
}

// swscale's coefficients in every 16-bit lane.
struct Lanes {
    __m256i y_offset, cy, ub, ug, vg, vr;
};

// 32 pixels' B, G and R before clamping to bytes: even and odd pixels in 16-bit lanes (each pair shares its chroma
// sample), in the order B even, B odd, G even, G odd, R even, R odd.
__attribute__((target("avx2"))) inline void pixels32(const Lanes& k, const std::uint8_t* y, const std::uint8_t* u,
                                                     const std::uint8_t* v, __m256i out[6]) {
    const __m256i luma = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y));
    const __m256i even = scaled_luma(_mm256_and_si256(luma, _mm256_set1_epi16(0x00ff)), k.y_offset, k.cy);
    const __m256i odd = scaled_luma(_mm256_srli_epi16(luma, 8), k.y_offset, k.cy);
    const __m256i cb = scaled_chroma(u);
    const __m256i cr = scaled_chroma(v);
    const __m256i blue = _mm256_mulhi_epi16(cb, k.ub);
    const __m256i red = _mm256_mulhi_epi16(cr, k.vr);
    const __m256i green = _mm256_adds_epi16(_mm256_mulhi_epi16(cb, k.ug), _mm256_mulhi_epi16(cr, k.vg));
    out[0] = _mm256_adds_epi16(even, blue);
    out[1] = _mm256_adds_epi16(odd, blue);
    out[2] = _mm256_adds_epi16(even, green);
    out[3] = _mm256_adds_epi16(odd, green);
    out[4] = _mm256_adds_epi16(even, red);
    out[5] = _mm256_adds_epi16(odd, red);
}

__attribute__((target("avx2"))) inline __m256i clamp_to_byte(__m256i x) {
    return _mm256_max_epi16(_mm256_min_epi16(x, _mm256_set1_epi16(255)), _mm256_setzero_si256());
}

// b * kGrayB + g * kGrayG + r * kGrayR + half, shifted: `blue_green` holds (b, g) pairs, `red_one` (r, 1) pairs.
__attribute__((target("avx2"))) inline __m256i gray8(__m256i blue_green, __m256i red_one) {
    const __m256i bg_weights = _mm256_set1_epi32((kGrayG << 16) | kGrayB);
    const __m256i r_weights = _mm256_set1_epi32(((1 << (kGrayShift - 1)) << 16) | kGrayR);
    return _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(blue_green, bg_weights),
                                              _mm256_madd_epi16(red_one, r_weights)),
                             kGrayShift);
}

// gray_of() on 16 pixels in 16-bit lanes (B, G and R not yet clamped).
__attribute__((target("avx2"))) inline __m256i gray16(__m256i b, __m256i g, __m256i r) {
    b = clamp_to_byte(b);
    g = clamp_to_byte(g);
    r = clamp_to_byte(r);
    const __m256i one = _mm256_set1_epi16(1);
    return _mm256_packs_epi32(gray8(_mm256_unpacklo_epi16(b, g), _mm256_unpacklo_epi16(r, one)),
                              gray8(_mm256_unpackhi_epi16(b, g), _mm256_unpackhi_epi16(r, one)));
}

// 32 pixels a step into `out` (see Yuv420ToBgr::convert_rows). Returns where it stopped.
__attribute__((target("avx2"))) int convert_row_avx2(const std::uint8_t* y, const std::uint8_t* u,
                                                     const std::uint8_t* v, int width, const Coefficients& c,
                                                     Output output, const std::array<std::uint8_t*, 3>& out) {
    const Lanes k{_mm256_set1_epi16(c.y_offset), _mm256_set1_epi16(c.y),  _mm256_set1_epi16(c.ub),
                  _mm256_set1_epi16(c.ug),       _mm256_set1_epi16(c.vg), _mm256_set1_epi16(c.vr)};
    __m256i p[6];
    int x = 0;
    for (; x + 32 <= width; x += 32) {
        pixels32(k, y + x, u + x / 2, v + x / 2, p);
        switch (output) {
            case Output::bgr:
                store_bgr(out[0] + 3 * x, p);
                break;
            case Output::planes:
                store_pixels(out[0] + x, p[0], p[1]);
                store_pixels(out[1] + x, p[2], p[3]);
                store_pixels(out[2] + x, p[4], p[5]);
                break;
            case Output::gray:
                store_pixels(out[0] + x, gray16(p[0], p[2], p[4]), gray16(p[1], p[3], p[5]));
                break;
        }
    }
    return x;
}
#endif

bool avx2_available() {
#ifdef FRAMEPIPE_HAS_AVX2_CONVERT
    static const bool avx2 = __builtin_cpu_supports("avx2");
    return avx2;
#else
    return false;
#endif
}

// swscale's result for `rows` rows of test content `width` wide, and this class's; equal or not.
bool same_as_swscale(const Yuv420ToBgr& ours, int width, int format, int colorspace, int range) {
    constexpr int kRows = 8;
    const int chroma_width = (width + 1) / 2;
    constexpr std::size_t kSlack = 256;  // swscale reads whole vectors past a row's last sample
    std::vector<std::uint8_t> luma(static_cast<std::size_t>(width) * kRows + kSlack);
    std::vector<std::uint8_t> u(static_cast<std::size_t>(chroma_width) * kRows / 2 + kSlack), v(u.size());
    std::uint32_t state = 2463534242u;
    const auto next = [&] {  // xorshift32: every byte value, the extremes included, in every position
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return static_cast<std::uint8_t>(state >> 24);
    };
    for (auto& p : luma) p = next();
    for (auto& p : u) p = next();
    for (auto& p : v) p = next();
    const std::uint8_t* planes[3] = {luma.data(), u.data(), v.data()};
    const int strides[3] = {width, chroma_width, chroma_width};
    const cv::Mat bgr = swscale_bgr(planes, strides, width, kRows, format, colorspace, range);
    if (bgr.empty()) return false;
    cv::Mat mine_bgr(kRows, width, CV_8UC3);
    ours.convert(planes, strides, kRows, mine_bgr.data, mine_bgr.step);
    if (cv::norm(bgr.colRange(0, width), mine_bgr, cv::NORM_INF) != 0) return false;
    const auto plane = static_cast<std::size_t>(width) * kRows;
    std::vector<std::uint8_t> mine(plane * 3);
    ours.convert_planes(planes, strides, kRows, mine.data(), mine.data() + plane, mine.data() + 2 * plane,
                        static_cast<std::size_t>(width));
    for (std::size_t row = 0; row < kRows; ++row)
        for (std::size_t col = 0; col < static_cast<std::size_t>(width); ++col)
            for (std::size_t channel = 0; channel < 3; ++channel)
                if (bgr.ptr<std::uint8_t>(static_cast<int>(row))[col * 3 + channel] !=
                    mine[channel * plane + row * width + col])
                    return false;
    // And convert_gray against cv::cvtColor on swscale's BGR (an OpenCV built with other weights would differ).
    cv::Mat gray;
    cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
    cv::Mat mine_gray(kRows, width, CV_8UC1);
    ours.convert_gray(planes, strides, kRows, mine_gray.data, mine_gray.step);
    return cv::norm(gray, mine_gray, cv::NORM_INF) == 0;
}

}  // namespace

std::optional<Yuv420ToBgr> Yuv420ToBgr::make(int width, int format, int colorspace, int range, Loop loop) {
    if ((format != AV_PIX_FMT_YUV420P && format != AV_PIX_FMT_YUVJ420P) || width < 2) return std::nullopt;
    const Yuv420ToBgr ours(width, coefficients_of(colorspace, full_range_of(format, range)), loop);
    if (!same_as_swscale(ours, width, format, colorspace, range)) return std::nullopt;
    return ours;
}

void Yuv420ToBgr::convert(const std::uint8_t* const planes[3], const int strides[3], int rows, std::uint8_t* bgr,
                          std::size_t out_stride) const noexcept {
    convert_rows(planes, strides, rows, Output::bgr, {bgr, nullptr, nullptr}, out_stride);
}

void Yuv420ToBgr::convert_planes(const std::uint8_t* const planes[3], const int strides[3], int rows, std::uint8_t* b,
                                 std::uint8_t* g, std::uint8_t* r, std::size_t out_stride) const noexcept {
    convert_rows(planes, strides, rows, Output::planes, {b, g, r}, out_stride);
}

void Yuv420ToBgr::convert_gray(const std::uint8_t* const planes[3], const int strides[3], int rows, std::uint8_t* gray,
                               std::size_t out_stride) const noexcept {
    convert_rows(planes, strides, rows, Output::gray, {gray, nullptr, nullptr}, out_stride);
}

void Yuv420ToBgr::convert_rows(const std::uint8_t* const planes[3], const int strides[3], int rows, Output output,
                               std::array<std::uint8_t*, 3> out, std::size_t out_stride) const noexcept {
    const bool vectors = loop_ == Loop::best && avx2_available();
    for (int row = 0; row < rows; ++row) {
        const std::uint8_t* y = planes[0] + static_cast<std::ptrdiff_t>(row) * strides[0];
        const std::uint8_t* u = planes[1] + static_cast<std::ptrdiff_t>(row / 2) * strides[1];
        const std::uint8_t* v = planes[2] + static_cast<std::ptrdiff_t>(row / 2) * strides[2];
        int done = 0;
#ifdef FRAMEPIPE_HAS_AVX2_CONVERT
        if (vectors) done = convert_row_avx2(y, u, v, width_, c_, output, out);
#else
        (void)vectors;
#endif
        convert_row_portable(y, u, v, done, width_, c_, output, out);
        for (auto& plane : out)
            if (plane != nullptr) plane += out_stride;
    }
}

}  // namespace framepipe::media
