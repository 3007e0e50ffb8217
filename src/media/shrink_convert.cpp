// The planner's rule for the thumbnail shape `convert -> blur -> resize` (blur optional; convert optional, for sources
// that deliver BGR): one stage that takes the decoder's YUV 4:2:0 picture straight to the small BGR picture. The blur
// and the area downscale are one filter evaluated at the output's pixels (shrink_filter.hpp), applied to the Y, U and V
// planes, and the colour conversion runs on the output's pixels only, with swscale's own coefficients for the stream's
// matrix and range. For a 1080p picture shrunk to 320 wide that is about a tenth of the work, and the full-size BGR
// picture (6 MB a frame) is never made.
//
// Equivalence: linear filters commute with the (affine) colour conversion, so the result is the declared stages'
// except for their intermediate rounding, and where swscale clamps a full-size pixel that lies outside the BGR cube
// (saturated colour edges, noise in black or white): those pixels are found and their clamps added back, or, when
// they are many, the picture is converted to BGR in strips, byte for byte as swscale converts it (yuv420_to_bgr.hpp),
// and filtered there. tests/stages/planner_test.cpp
// holds every route to at most 2 levels per pixel and a PSNR of at least 45 dB against the declared stages.
//
// Pictures it does not take (other pixel formats, pictures to be turned upright, sizes the filter does not fit, an
// enlargement or another interpolation) go through the declared stages, which this stage owns, opens and closes.
// Thread-safety: parallel; each process() call works on a worker slot of its own (filters, scratch, swscale context).
#include "shrink_filter.hpp"
#include "slot_pool.hpp"
#include "video_decode.hpp"
#include "yuv420_to_bgr.hpp"

#include "engine/stage_fusion.hpp"
#include "stages/filters.hpp"
#include "stages/reads_some_pictures.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>

namespace framepipe::media {
namespace {

// Y'CbCr to BGR with swscale's coefficients (sws_setColorspaceDetails with brightness 0, contrast and saturation 1):
// R = cy (Y - oy) + crv (V - 128), G = cy (Y - oy) - cgu (U - 128) - cgv (V - 128), B = cy (Y - oy) + cbu (U - 128),
// plus swscale's own rounding bias per channel (its fixed-point converters truncate: about -1 level), measured by
// converting a test picture of the same width with the convert stage's own swscale context.
struct YuvToBgr {
    float cy = 1, oy = 0, crv = 0, cbu = 0, cgu = 0, cgv = 0;
    std::array<float, 3> bias{};  // B, G, R: what swscale adds on average to the exact value

    static YuvToBgr of(int width, int format, int colorspace, int range) {
        const bool full_range = full_range_of(format, range);
        const int* table = sws_getCoefficients(swscale_matrix_of(colorspace));  // for limited-range chroma, in 1/65536
        const double chroma = full_range ? 224.0 / 255.0 : 1.0;
        YuvToBgr c;
        c.cy = full_range ? 1.0f : static_cast<float>(255.0 / 219.0);
        c.oy = full_range ? 0.0f : 16.0f;
        c.crv = static_cast<float>(table[0] * chroma / 65536.0);
        c.cbu = static_cast<float>(table[1] * chroma / 65536.0);
        c.cgu = static_cast<float>(table[2] * chroma / 65536.0);
        c.cgv = static_cast<float>(table[3] * chroma / 65536.0);
        c.measure_bias(width, format, colorspace, range);
        return c;
    }

    [[nodiscard]] std::array<float, 3> exact(float y, float u, float v) const {
        const float yy = cy * (y - oy);
        const float cb = u - 128.0f;
        const float cr = v - 128.0f;
        return {yy + cbu * cb, yy - cgu * cb - cgv * cr, yy + crv * cr};
    }

private:
    void measure_bias(int width, int format, int colorspace, int range) {
        constexpr int kRows = 16;
        const int chroma_width = (width + 1) / 2;
        constexpr std::size_t kSlack = 64;  // swscale reads whole vectors past a row's last sample
        std::vector<uint8_t> luma(static_cast<std::size_t>(width) * kRows + kSlack);
        std::vector<uint8_t> u(static_cast<std::size_t>(chroma_width) * kRows / 2 + kSlack), v(u.size());
        std::uint32_t state = 12345;
        const auto next = [&](int lo, int span) {
            state = state * 1664525u + 1013904223u;
            return static_cast<uint8_t>(lo + static_cast<int>((state >> 16) % static_cast<std::uint32_t>(span)));
        };
        for (auto& p : luma) p = next(24, 200);
        for (auto& p : u) p = next(80, 96);
        for (auto& p : v) p = next(80, 96);
        const uint8_t* planes[3] = {luma.data(), u.data(), v.data()};
        const int strides[3] = {width, chroma_width, chroma_width};
        const cv::Mat bgr = swscale_bgr(planes, strides, width, kRows, format, colorspace, range);
        if (bgr.empty()) return;
        std::array<double, 3> sum{};
        std::size_t counted = 0;
        for (int row = 0; row < kRows; ++row)
            for (int col = 0; col < width; ++col) {
                const std::size_t c = static_cast<std::size_t>(row / 2) * static_cast<std::size_t>(chroma_width) +
                                      static_cast<std::size_t>(col / 2);
                const auto value = exact(luma[static_cast<std::size_t>(row * width + col)], u[c], v[c]);
                if (std::any_of(value.begin(), value.end(), [](float x) { return x < 2 || x > 253; })) continue;
                for (std::size_t ch = 0; ch < 3; ++ch)
                    sum[ch] += bgr.ptr<uint8_t>(row)[static_cast<std::size_t>(col) * 3 + ch] - value[ch];
                ++counted;
            }
        if (counted == 0) return;
        for (std::size_t ch = 0; ch < 3; ++ch) bias[ch] = static_cast<float>(sum[ch] / static_cast<double>(counted));
    }
};

bool is_yuv420(int format) { return format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P; }

class ShrinkConvert final : public Stage {
public:
    ShrinkConvert(std::vector<std::unique_ptr<Stage>> declared, bool converts,
                  std::optional<stages::BlurParameters> blur, stages::ResizeParameters resize, bool gray)
        : Stage(traits_of(declared)),
          declared_(std::move(declared)),
          converts_(converts),
          gray_(gray),
          resize_(resize),
          kernel_(blur ? gaussian(*blur) : std::vector<double>{1.0}) {}

    // A declared stage that fails to open leaves this stage unopened (the engine will not close it): the ones opened
    // before it are closed here, so none is left open.
    void open(const StageContext& context) override {
        try {
            for (opened_ = 0; opened_ < declared_.size(); ++opened_) declared_[opened_]->open(context);
        } catch (...) {
            try {
                close_opened();
            } catch (...) {  // the open failure is what the run reports
            }
            throw;
        }
    }

    void close() override { close_opened(); }

private:
    void close_opened() {
        std::exception_ptr first;
        while (opened_ > 0) {
            try {
                declared_[--opened_]->close();
            } catch (...) {
                if (!first) first = std::current_exception();
            }
        }
        if (first) std::rethrow_exception(first);
    }

public:
    Outcome process(Frame& frame) override {
        auto worker = workers_.claim();
        if (frame.format == PixelFormat::native) {
            auto* attachment = frame.find<PictureAttachment>();
            if (converts_ && attachment != nullptr && shrink_yuv(frame, *attachment, *worker)) return to_gray(frame);
        } else if ((frame.format == PixelFormat::bgr || frame.format == PixelFormat::gray) && shrink_pixels(frame, *worker)) {
            return to_gray(frame);
        }
        for (const auto& stage : declared_)  // as declared
            if (const Outcome outcome = stage->process(frame); outcome != Outcome::pass) return outcome;
        return Outcome::pass;
    }

    // Whether the frame holds a picture the declared stages would take (one the conversion can convert, or pixels):
    // what they would reject is not passed on unread (ShrinkWhereRead), but rejected as declared.
    [[nodiscard]] bool has_picture(const Frame& frame) const {
        if (frame.format == PixelFormat::native) {
            const auto* attachment = frame.find<PictureAttachment>();
            return converts_ && attachment != nullptr && attachment->picture->data[0] != nullptr &&
                   sws_isSupportedInput(static_cast<AVPixelFormat>(attachment->picture->format)) > 0;
        }
        return (frame.format == PixelFormat::bgr || frame.format == PixelFormat::gray) && !frame.image.empty();
    }

private:
    // With a declared conversion to gray last: a small BGR picture goes through it (a gray one is already there).
    Outcome to_gray(Frame& frame) {
        return gray_ && frame.image.channels() == 3 ? declared_.back()->process(frame) : Outcome::pass;
    }

    static constexpr std::size_t kSlots = 8;
    // Pictures where more than one chroma sample in kMostClamped has pixels swscale clamps are converted whole before
    // filtering: correcting clamps pixel by pixel costs more than swscale's converter there.
    static constexpr std::size_t kMostClamped = 50;
    static constexpr int kStripRows = 64;

    // Per worker: the filter for the last geometry it saw, and its scratch.
    struct Worker {
        cv::Size in{}, out{};
        int format = -1, colorspace = -1, range = -1;
        AxisTaps x, y, chroma_x, chroma_y;
        InverseTaps reads_x, reads_y;  // which outputs read each full-size column and row, for clamp corrections
        YuvToBgr colour;
        std::vector<float> row, luma, u, v, correction;  // (luma, u and v hold B, G and R in convert_in_strips)
        std::vector<int> clamped;  // chroma samples with pixels swscale clamps (find_clamped)
        std::vector<uchar> outside;  // per chroma sample of a row: has such pixels
        // Pictures converted whole, a strip of rows at a time: with Yuv420ToBgr where it reproduces swscale (`exact`),
        // otherwise with swscale's `converter` (made on first use). Into `strip` as B, G and R planes (`to_planes`,
        // Yuv420ToBgr only), or into `bgr`.
        std::optional<Yuv420ToBgr> exact;
        bool to_planes = false;
        cv::Mat strip;
        std::array<cv::Mat, 3> bytes;  // the filtered B, G and R planes, rounded
        SwsPtr converter;
        cv::Mat bgr;
        int strip_height = 0;  // the rows converter was made for

        void fit(cv::Size in_size, cv::Size out_size, int picture_format, const std::vector<double>& kernel) {
            if (in_size == in && out_size == out && picture_format == format) return;
            // The key (in, out, format) is set only once everything is made: a throw (out of memory) leaves no taps
            // of another geometry behind to be used with this one. No picture is 0x0 (fits()). The converters follow
            // in fit_colour(), which the invalid colour key makes run.
            in = out = cv::Size();
            colorspace = range = -1;
            x = AxisTaps::blur_then_area(in_size.width, out_size.width, kernel);
            y = AxisTaps::blur_then_area(in_size.height, out_size.height, kernel);
            if (is_yuv420(picture_format)) {
                chroma_x = AxisTaps::blur_then_area(in_size.width, out_size.width, kernel, 2);
                chroma_y = AxisTaps::blur_then_area(in_size.height, out_size.height, kernel, 2);
                reads_x = InverseTaps::invert(x, in_size.width);
                reads_y = InverseTaps::invert(y, in_size.height);
            }
            in = in_size;
            out = out_size;
            format = picture_format;
        }

        // Adds `delta` (channel `channel` of full-size pixel x, y) to every output that reads that pixel.
        void add_correction(int px, int py, std::size_t channel, float delta) {
            for (const auto& [oy, wy] : reads_y.readers(py))
                for (const auto& [ox, wx] : reads_x.readers(px))
                    correction[(static_cast<std::size_t>(oy) * static_cast<std::size_t>(out.width) +
                                static_cast<std::size_t>(ox)) * 3 + channel] += wy * wx * delta;
        }

        // `gray`: pictures converted whole are filtered as one gray plane.
        void fit_colour(int picture_colorspace, int picture_range, bool gray) {
            if (picture_colorspace == colorspace && picture_range == range) return;
            colorspace = range = -1;  // as in fit(): the key is set last
            exact.reset();
            to_planes = false;
            converter.reset();
            colour = YuvToBgr::of(in.width, format, picture_colorspace, picture_range);
            // Planes are filtered one channel at a time. The 1-channel horizontal pass costs more per value than the
            // 3-channel one for windows of 8 taps (measured, 1080p to 640 wide: as much as the conversion saves),
            // so those are converted to interleaved BGR, unless one gray plane is all there is to filter.
            exact = Yuv420ToBgr::make(in.width, format, picture_colorspace, picture_range);
            to_planes = exact && (gray || x.window > 8);
            colorspace = picture_colorspace;
            range = picture_range;
        }
    };

    static StageTraits traits_of(const std::vector<std::unique_ptr<Stage>>& declared) {
        StageTraits traits{.parallel = true, .max_concurrency = kSlots, .renders_new_image = true};
        for (const auto& stage : declared) {
            traits.name += (traits.name.empty() ? "" : "+") + stage->traits().name;
            if (stage->traits().max_concurrency != 0)
                traits.max_concurrency = std::min(traits.max_concurrency, stage->traits().max_concurrency);
        }
        return traits;
    }

    static std::vector<double> gaussian(const stages::BlurParameters& blur) {
        const cv::Mat kernel = cv::getGaussianKernel(blur.ksize, blur.sigma, CV_64F);
        return {kernel.begin<double>(), kernel.end<double>()};
    }

    // Whether the filter takes a picture of this size: a shrink by area, and a picture at least as large as the blur.
    bool fits(cv::Size in) const {
        const cv::Size out = resize_.output_for(in);
        const int radius = static_cast<int>(kernel_.size() / 2);
        return in.width > radius && in.height > radius && out.width <= in.width && out.height <= in.height &&
               resize_.interpolation_for(in) == cv::INTER_AREA;
    }

    bool shrink_yuv(Frame& frame, PictureAttachment& attachment, Worker& worker) {
        const AVFrame& picture = *attachment.picture;
        const cv::Size in(picture.width, picture.height);
        // An odd height: swscale converts such a picture with its generic path (chroma interpolated), not the fast
        // one every route here reproduces, so it goes through the declared stages.
        if (!is_yuv420(picture.format) || !fits(in) || in.height % 2 != 0 ||
            (attachment.stream && attachment.stream->quarter_turns != 0))
            return false;
        const cv::Size out = resize_.output_for(in);
        worker.fit(in, out, picture.format, kernel_);
        worker.fit_colour(raw_value(picture.colorspace), raw_value(picture.color_range), gray_);
        const auto plane = [&](int i, cv::Size size) {
            return cv::Mat(size, CV_8UC1, picture.data[i], static_cast<std::size_t>(picture.linesize[i]));
        };
        const cv::Size chroma((in.width + 1) / 2, (in.height + 1) / 2);
        const cv::Mat luma = plane(0, in), u = plane(1, chroma), v = plane(2, chroma);
        const std::size_t samples = find_clamped(luma, u, v, worker);
        const bool whole = worker.clamped.size() * kMostClamped > samples;
        if (whole && gray_ && worker.exact) {  // the gray of every pixel, filtered as one plane
            cv::Mat& gray = frame.buffer(out, CV_8UC1);
            if (!convert_in_strips(picture, worker, gray)) return false;
            attachment.reset();
            frame.set_image(gray);
            frame.format = PixelFormat::gray;
            return true;
        }
        cv::Mat& image = frame.buffer(out, CV_8UC3);
        if (whole) {
            // Much of the picture lies outside the BGR cube (saturated graphics, noise in black): convert it as the
            // convert stage does, in strips of rows small enough to stay in the processor's cache, and filter those.
            if (!convert_in_strips(picture, worker, image)) return false;
        } else {
            convert_small(luma, u, v, worker, image);
        }
        attachment.reset();  // give the picture back to the decoder's pool now
        frame.set_image(image);
        frame.format = PixelFormat::bgr;
        return true;
    }

    // swscale's conversion to BGR, a strip of rows at a time (each strip converted as a picture of its own, from an
    // even row: whole chroma rows), each strip filtered into the output rows that read only rows it holds. The same
    // bytes come from Yuv420ToBgr where it reproduces swscale (interleaved, or planes B, G and R each filtered on its
    // own), and from swscale itself otherwise. A 1-channel `image` gets the filtered gray of those pixels (Yuv420ToBgr
    // only).
    static bool convert_in_strips(const AVFrame& picture, Worker& worker, cv::Mat& image) {
        const int height = picture.height;
        const int out_rows = worker.y.outputs();
        // Output rows per strip: about kStripRows input rows, so a 1080p strip (64 x 5760 bytes) fits in L2.
        const int per_strip = std::max(1, kStripRows * out_rows / height);
        // The input rows output rows [oy, end) read, from an even row (a whole chroma row) to an even count or the end.
        const auto strip = [&](int oy, int end) {
            const int top = worker.y.first[static_cast<std::size_t>(oy)] / 2 * 2;
            const auto last = static_cast<std::size_t>(end - 1);  // taps move down with the output row
            int bottom = worker.y.first[last] + worker.y.count[last];
            bottom = std::min(height, bottom + (bottom - top) % 2);
            return std::pair{top, bottom};
        };
        int tallest = 2;
        for (int oy = 0; oy < out_rows; oy += per_strip) {
            const auto [top, bottom] = strip(oy, std::min(oy + per_strip, out_rows));
            tallest = std::max(tallest, (bottom - top + 1) / 2 * 2);  // even: swscale's fast converter wants it so
        }
        const auto pixels = static_cast<std::size_t>(image.total());
        const bool gray = image.channels() == 1;
        if (gray && !worker.to_planes) return false;
        if (worker.to_planes) {
            const int planes = gray ? 1 : 3;  // B, G and R, one above the other
            if (worker.strip.rows != planes * tallest || worker.strip.cols != picture.width)
                worker.strip.create(planes * tallest, picture.width, CV_8UC1);
            for (auto* plane : {&worker.luma, &worker.u, &worker.v}) plane->resize(pixels);
        } else {
            if (!worker.exact && (!worker.converter || worker.strip_height != tallest)) {
                worker.converter =
                    bgr_converter(picture.width, tallest, picture.format, worker.colorspace, worker.range);
                worker.strip_height = tallest;
            }
            if (!worker.exact && !worker.converter) return false;
            if (worker.bgr.rows != tallest || worker.bgr.cols != picture.width)
                worker.bgr = swscale_bgr_picture({picture.width, tallest});
            worker.luma.resize(pixels * 3);
        }
        for (int oy = 0; oy < out_rows; oy += per_strip) {
            const int end = std::min(oy + per_strip, out_rows);
            const auto [top, bottom] = strip(oy, end);
            const uint8_t* planes[3] = {picture.data[0] + static_cast<std::ptrdiff_t>(top) * picture.linesize[0],
                                        picture.data[1] + static_cast<std::ptrdiff_t>(top / 2) * picture.linesize[1],
                                        picture.data[2] + static_cast<std::ptrdiff_t>(top / 2) * picture.linesize[2]};
            const OutputRows rows{.begin = oy, .end = end, .plane_first_row = top};
            if (gray) {
                worker.exact->convert_gray(planes, picture.linesize, bottom - top, worker.strip.data,
                                           worker.strip.step);
                shrink_plane(worker.strip.rowRange(0, bottom - top), worker.x, worker.y, worker.luma.data(), worker.row,
                             rows);
            } else if (worker.to_planes) {
                cv::Mat& s = worker.strip;
                worker.exact->convert_planes(planes, picture.linesize, bottom - top, s.ptr(0), s.ptr(tallest),
                                             s.ptr(2 * tallest), s.step);
                float* outs[3] = {worker.luma.data(), worker.u.data(), worker.v.data()};
                for (int channel = 0; channel < 3; ++channel)
                    shrink_plane(s.rowRange(channel * tallest, channel * tallest + bottom - top), worker.x, worker.y,
                                 outs[channel], worker.row, rows);
            } else {
                if (worker.exact) {
                    worker.exact->convert(planes, picture.linesize, bottom - top, worker.bgr.data, worker.bgr.step);
                } else {
                    uint8_t* out[1] = {worker.bgr.data};
                    const int out_stride[1] = {static_cast<int>(worker.bgr.step)};
                    if (sws_scale(worker.converter.get(), planes, picture.linesize, 0, bottom - top, out, out_stride) !=
                        bottom - top)
                        return false;  // the declared stages then convert the picture
                }
                shrink_plane(worker.bgr.rowRange(0, bottom - top), worker.x, worker.y, worker.luma.data(), worker.row,
                             rows);
            }
        }
        if (gray || !worker.to_planes) {
            cv::Mat(image.size(), CV_32FC(image.channels()), worker.luma.data()).convertTo(image, image.type());
            return true;
        }
        // Each plane rounded to bytes, then the three interleaved (both OpenCV's vector loops).
        const std::array<float*, 3> floats{worker.luma.data(), worker.u.data(), worker.v.data()};
        for (std::size_t channel = 0; channel < 3; ++channel) {
            worker.bytes[channel].create(image.size(), CV_8UC1);
            cv::Mat(image.size(), CV_32FC1, floats[channel]).convertTo(worker.bytes[channel], CV_8UC1);
        }
        cv::merge(worker.bytes.data(), 3, image);
        return true;
    }

    // The Y, U and V planes filtered to the output's size, then converted there; the clamps of the pixels find_clamped
    // found added back.
    static void convert_small(const cv::Mat& luma, const cv::Mat& u, const cv::Mat& v, Worker& worker, cv::Mat& image) {
        const cv::Size out = image.size();
        const auto pixels = static_cast<std::size_t>(out.area());
        worker.luma.resize(pixels);
        worker.u.resize(pixels);
        worker.v.resize(pixels);
        worker.correction.assign(pixels * 3, 0.0f);
        shrink_plane(luma, worker.x, worker.y, worker.luma.data(), worker.row);
        shrink_plane(u, worker.chroma_x, worker.chroma_y, worker.u.data(), worker.row);
        shrink_plane(v, worker.chroma_x, worker.chroma_y, worker.v.data(), worker.row);
        correct_clamping(luma, u, v, worker);
        const YuvToBgr& c = worker.colour;
        for (int row = 0; row < out.height; ++row) {
            uchar* dst = image.ptr<uchar>(row);
            const std::size_t at = static_cast<std::size_t>(row) * static_cast<std::size_t>(out.width);
            const float* y = worker.luma.data() + at;
            const float* cb = worker.u.data() + at;
            const float* cr = worker.v.data() + at;
            const float* fix = worker.correction.data() + 3 * at;
            for (int col = 0; col < out.width; ++col) {
                const auto bgr = c.exact(y[col], cb[col], cr[col]);
                for (int ch = 0; ch < 3; ++ch)
                    dst[3 * col + ch] = cv::saturate_cast<uchar>(bgr[static_cast<std::size_t>(ch)] +
                                                                 c.bias[static_cast<std::size_t>(ch)] + fix[3 * col + ch]);
            }
        }
    }

    // swscale clamps each full-size pixel to 0..255 before the blur and the resize average it; the filter averages
    // first. The chroma samples whose 2x2 block holds such a pixel go to worker.clamped (all of them, unless they are
    // too many for correcting: then the search stops there). Returns the number of chroma samples.
    static std::size_t find_clamped(const cv::Mat& luma, const cv::Mat& u, const cv::Mat& v, Worker& worker) {
        const YuvToBgr& c = worker.colour;
        // Values that round to 0 or 255 need no correction: swscale's result is within half a level either way.
        const GamutTest test{c.cy, c.oy, c.crv, c.cbu, c.cgu, c.cgv, -0.5f - std::min({c.bias[0], c.bias[1], c.bias[2]}),
                             255.5f - std::max({c.bias[0], c.bias[1], c.bias[2]})};
        const std::size_t samples = static_cast<std::size_t>(u.rows) * static_cast<std::size_t>(u.cols);
        worker.clamped.clear();
        worker.outside.resize(static_cast<std::size_t>(u.cols));
        for (int cy = 0; cy < u.rows; ++cy) {
            const int found = outside_gamut(luma.ptr<uchar>(2 * cy), luma.ptr<uchar>(std::min(2 * cy + 1, luma.rows - 1)),
                                            u.ptr<uchar>(cy), v.ptr<uchar>(cy), luma.cols, test, worker.outside.data());
            if (found == 0) continue;
            for (int cx = 0; cx < u.cols; ++cx)
                if (worker.outside[static_cast<std::size_t>(cx)] != 0) worker.clamped.push_back(cy * u.cols + cx);
            if (worker.clamped.size() * kMostClamped > samples) break;  // converted whole: no need to look further
        }
        return samples;
    }

    // Adds the clamp of every pixel find_clamped found to the outputs that read it, weighted as they read it.
    static void correct_clamping(const cv::Mat& luma, const cv::Mat& u, const cv::Mat& v, Worker& worker) {
        const YuvToBgr& c = worker.colour;
        for (const int sample : worker.clamped) {
            const int cy = sample / u.cols, cx = sample % u.cols;
            const uchar cb = u.ptr<uchar>(cy)[cx], cr = v.ptr<uchar>(cy)[cx];
            for (int r = 2 * cy; r < std::min(2 * cy + 2, luma.rows); ++r) {
                const uchar* l = luma.ptr<uchar>(r);
                for (int i = 2 * cx; i < std::min(2 * cx + 2, luma.cols); ++i) {
                    const auto value = c.exact(l[i], cb, cr);
                    for (std::size_t ch = 0; ch < 3; ++ch) {
                        const float shown = value[ch] + c.bias[ch];
                        const float clamped = std::clamp(shown, 0.0f, 255.0f);
                        if (clamped != shown) worker.add_correction(i, r, ch, clamped - shown);
                    }
                }
            }
        }
    }

    bool shrink_pixels(Frame& frame, Worker& worker) {
        const cv::Mat& image = frame.image;
        if (image.empty() || image.depth() != CV_8U || !fits(image.size())) return false;
        const cv::Size out = resize_.output_for(image.size());
        worker.fit(image.size(), out, -1, kernel_);
        worker.luma.resize(static_cast<std::size_t>(out.area()) * static_cast<std::size_t>(image.channels()));
        shrink_plane(image, worker.x, worker.y, worker.luma.data(), worker.row);
        cv::Mat& result = frame.buffer(out, image.type());
        cv::Mat(out, CV_32FC(image.channels()), worker.luma.data()).convertTo(result, image.type());
        frame.set_image(result);
        return true;
    }

    std::vector<std::unique_ptr<Stage>> declared_;
    std::size_t opened_ = 0;
    bool converts_;
    bool gray_;  // the last declared stage converts to gray
    stages::ResizeParameters resize_;
    std::vector<double> kernel_;
    SlotPool<Worker, kSlots> workers_;
};

// The shrink, then a stage at the end of its branch that reads only some frames' pictures (a thumbnail every 30
// frames): a frame whose picture it will not read is not shrunk (nor converted) at all, and nothing else reads it. So
// the 29 frames of 30 a thumbnail skips cost their decoding only. Serial and in order, as the picking stage is; the
// shrink of the frames it reads runs on its thread.
class ShrinkWhereRead final : public Stage {
public:
    ShrinkWhereRead(std::unique_ptr<ShrinkConvert> shrink, std::unique_ptr<Stage> reader)
        : Stage(traits_of(*shrink, *reader)),
          shrink_(std::move(shrink)),
          reader_(std::move(reader)),
          picks_(dynamic_cast<stages::ReadsSomePictures&>(*reader_)) {}

    void open(const StageContext& context) override {
        shrink_->open(context);
        try {
            reader_->open(context);
        } catch (...) {
            try {
                shrink_->close();
            } catch (...) {  // the open failure is what the run reports
            }
            throw;
        }
    }

    void close() override {  // in the order the declared stages close: the shrink, then the reader
        std::exception_ptr first;
        try {
            shrink_->close();
        } catch (...) {
            first = std::current_exception();
        }
        try {
            reader_->close();
        } catch (...) {
            if (!first) first = std::current_exception();
        }
        if (first) std::rethrow_exception(first);
    }

    Outcome process(Frame& frame) override {
        if (!picks_.reads_picture_of(frame) && shrink_->has_picture(frame)) {
            picks_.pass_unread(frame);
            if (frame.image_borrowed()) {  // a frame another branch shares: its pixels stay that branch's, uncopied
                cv::Mat none;
                frame.set_image(none);
            }
            return Outcome::pass;
        }
        if (const Outcome outcome = shrink_->process(frame); outcome != Outcome::pass) return outcome;
        return reader_->process(frame);
    }

private:
    static StageTraits traits_of(const Stage& shrink, const Stage& reader) {
        StageTraits traits = reader.traits();
        traits.name = shrink.traits().name + "+" + reader.traits().name;
        traits.read_only = false;
        traits.renders_new_image = true;
        return traits;
    }

    std::unique_ptr<ShrinkConvert> shrink_;
    std::unique_ptr<Stage> reader_;
    stages::ReadsSomePictures& picks_;
};

// [convert] [blur] resize [color to gray], at least two of them, the resize by area (or auto) and not by scale > 1;
// the conversion to gray only after convert. Then, where it ends the branch, a stage that reads only some frames'
// pictures (ShrinkWhereRead).
std::optional<detail::Fusion> fuse_shrink(std::span<std::unique_ptr<Stage>> run, bool first_decodes, bool ends_branch) {
    std::size_t next = 0;
    const bool converts = first_decodes && is_convert_stage(*run[0]);
    if (converts) ++next;
    std::optional<stages::BlurParameters> blur;
    if (next < run.size()) blur = stages::blur_parameters(*run[next]);
    if (blur) ++next;
    if (next >= run.size()) return std::nullopt;
    const std::optional<stages::ResizeParameters> resize = stages::resize_parameters(*run[next]);
    if (!resize || next == 0) return std::nullopt;
    if (resize->interpolation != -1 && resize->interpolation != cv::INTER_AREA) return std::nullopt;
    if (resize->scale > 1) return std::nullopt;
    ++next;
    const bool gray = converts && next < run.size() && stages::converts_to_gray(*run[next]);
    if (gray) ++next;

    std::string target = resize->scale != 0 ? fmt::format("x{}", resize->scale)
                         : resize->height == 0 ? fmt::format("{} wide", resize->width)
                         : resize->width == 0 ? fmt::format("{} high", resize->height)
                                              : fmt::format("{}x{}", resize->width, resize->height);
    std::string plan = converts
                           ? fmt::format("the decoder's YUV 4:2:0 straight to {} {}", target, gray ? "gray" : "BGR")
                           : fmt::format("straight to {}", target);
    if (blur) plan += fmt::format(", the {}x{} blur and the area resize as one filter at the output's pixels",
                                  blur->ksize, blur->ksize);
    plan += "; other pictures go through the stages as declared";
    // The reader: the run's last stage, where it ends the branch; serial, in order, holding nothing back and writing
    // nothing into the frame (ShrinkWhereRead calls it one frame at a time, in order, and takes its traits).
    auto* picks =
        next + 1 == run.size() && ends_branch ? dynamic_cast<stages::ReadsSomePictures*>(run[next].get()) : nullptr;
    if (picks != nullptr) {
        const StageTraits& reader = run[next]->traits();
        if (!picks->reads_some_pictures() || reader.parallel || !reader.needs_ordered_input || !reader.read_only ||
            reader.max_held != 0)
            picks = nullptr;
    }
    if (picks != nullptr)
        plan += fmt::format(
            "; '{}' reads only some frames' pictures and ends its branch: the others are passed on "
            "as decoded, with no conversion, blur or resize",
            run[next]->traits().name);
    std::vector<std::unique_ptr<Stage>> declared;
    for (std::size_t i = 0; i < next; ++i) declared.push_back(std::move(run[i]));
    detail::Fusion fusion;
    auto shrink = std::make_unique<ShrinkConvert>(std::move(declared), converts, blur, *resize, gray);
    if (picks != nullptr) {
        fusion.replaces = next + 1;
        fusion.stage = std::make_unique<ShrinkWhereRead>(std::move(shrink), std::move(run[next]));
    } else {
        fusion.replaces = next;
        fusion.stage = std::move(shrink);
    }
    fusion.plan = std::move(plan);
    return fusion;
}

const bool shrink_declared = detail::declare_fusion(fuse_shrink);

}  // namespace
}  // namespace framepipe::media
