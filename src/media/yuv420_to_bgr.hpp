#pragma once
// swscale's unscaled YUV 4:2:0 to BGR24 conversion on x86 (16-bit fixed point: each sample shifted left by 3, offset,
// multiplied keeping the high 16 bits, added with saturation, packed with clamping to 0..255), reproduced bit for bit,
// 32 pixels per AVX2 step instead of swscale's 16: into interleaved BGR as swscale writes it, into B, G and R planes
// of their own (for the 1-channel filter), or straight to gray. The planner's thumbnail route converts a picture with
// it in strips when much of the picture lies outside the BGR cube (shrink_convert.cpp).
//
// Equality with swscale is checked, not assumed: make() computes the coefficients as swscale does, converts a test
// picture of the same width with both (and its gray with cv::cvtColor), and returns nothing when a single byte differs
// (another swscale version, a processor where swscale takes another path); the caller then converts with swscale.
// Thread-safety: immutable once made; convert() may run on several threads at once.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace framepipe::media {

class Yuv420ToBgr {
public:
    /// Which loop convert() runs: `best` is AVX2 where the processor has it, `portable` plain C++ (the same bytes).
    enum class Loop { best, portable };

    /// The conversion the convert stage's swscale context does for pictures `width` wide and of even height (an odd
    /// height takes swscale's generic path, which this does not reproduce) of this pixel format (AVPixelFormat,
    /// 4:2:0), colour matrix (AVColorSpace) and range (AVColorRange), or nothing when this class does not reproduce
    /// it exactly.
    static std::optional<Yuv420ToBgr> make(int width, int format, int colorspace, int range, Loop loop = Loop::best);

    /// Converts `rows` luma rows (from an even row of the picture: chroma row r / 2 serves rows r and r + 1) into
    /// interleaved BGR, 3 * width() bytes of each row at `out_stride` apart: swscale's bytes.
    void convert(const std::uint8_t* const planes[3], const int strides[3], int rows, std::uint8_t* bgr,
                 std::size_t out_stride) const noexcept;

    /// As convert(), into the b, g and r planes, width() bytes of each row at `out_stride` apart.
    void convert_planes(const std::uint8_t* const planes[3], const int strides[3], int rows, std::uint8_t* b,
                        std::uint8_t* g, std::uint8_t* r, std::size_t out_stride) const noexcept;

    /// As convert(), into one plane: the gray of each pixel's B, G and R as cv::cvtColor (COLOR_BGR2GRAY) computes
    /// it from swscale's BGR.
    void convert_gray(const std::uint8_t* const planes[3], const int strides[3], int rows, std::uint8_t* gray,
                      std::size_t out_stride) const noexcept;

    [[nodiscard]] int width() const noexcept { return width_; }

    /// swscale's 16-bit coefficients (SwsContext's yCoeff, yOffset, ubCoeff, ugCoeff, vgCoeff, vrCoeff).
    struct Coefficients {
        std::int16_t y, y_offset, ub, ug, vg, vr;
    };

    /// What a conversion writes: interleaved BGR at out[0]; B, G and R planes at out[0], out[1] and out[2]; or gray
    /// at out[0].
    enum class Output { bgr, planes, gray };

private:
    Yuv420ToBgr(int width, Coefficients c, Loop loop) : width_(width), c_(c), loop_(loop) {}
    void convert_rows(const std::uint8_t* const planes[3], const int strides[3], int rows, Output output,
                      std::array<std::uint8_t*, 3> out, std::size_t out_stride) const noexcept;
    int width_;
    Coefficients c_;
    Loop loop_;
};

}  // namespace framepipe::media
