#include "video_decode.hpp"

#include "slot_pool.hpp"
#include "yuv420_to_bgr.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>

namespace framepipe::media {
namespace {

constexpr std::size_t kMaxHeld = 16;  // H.264/HEVC reorder at most 16 pictures
constexpr std::size_t kBacklog = 8;   // decoded pictures waiting for a frame to carry them
constexpr std::uint64_t kMaxKeyWait = 300;  // packets to wait for a keyframe before decoding without one

CodecContextPtr open_decoder(const StreamParameters& stream, int threads, const std::string& source_name) {
    const AVCodec* codec = avcodec_find_decoder(stream.codec->codec_id);
    if (codec == nullptr)
        throw Error(fmt::format("{}: this system's FFmpeg has no decoder for codec '{}'", source_name,
                                avcodec_get_name(stream.codec->codec_id)));
    CodecContextPtr context(avcodec_alloc_context3(codec));
    if (!context) throw Error("decode: out of memory");
    int ret = avcodec_parameters_to_context(context.get(), stream.codec.get());
    if (ret < 0) throw Error(fmt::format("{}: decoder setup failed: {}", source_name, av_error_text(ret)));
    context->pkt_timebase = stream.time_base;
    if (stream.max_pixels > 0) context->max_pixels = stream.max_pixels;
    context->thread_count = threads;
    if (threads > 1) context->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(context.get(), codec, nullptr);
    if (ret < 0)
        throw Error(fmt::format("{}: cannot open the '{}' decoder: {}", source_name, codec->name, av_error_text(ret)));
    return context;
}

// A picture the decoder produced with errors concealed, or from a packet marked corrupt.
bool damaged(const AVFrame& picture) {
    return picture.decode_error_flags != 0 || (picture.flags & AV_FRAME_FLAG_CORRUPT) != 0;
}

// The stream a packet belongs to, as its source attached it.
const std::shared_ptr<const StreamParameters>& stream_of(Frame& frame) {
    const auto* attachment = frame.find<PictureAttachment>();
    if (attachment == nullptr || !attachment->stream) throw BadFrame("packet without stream parameters");
    return attachment->stream;
}

void load_packet(AVPacket& packet, Frame& frame) {
    packet.data = frame.encoded.data();
    packet.size = static_cast<int>(frame.encoded.size());
    packet.pts = frame.pts;
    packet.dts = frame.dts;
    packet.flags = frame.key ? AV_PKT_FLAG_KEY : 0;
}

}  // namespace

bool StreamParameters::same_codec(const StreamParameters& other) const noexcept {
    const AVCodecParameters& a = *codec;
    const AVCodecParameters& b = *other.codec;
    return a.codec_id == b.codec_id && a.width == b.width && a.height == b.height && a.format == b.format &&
           a.sample_rate == b.sample_rate && a.ch_layout.nb_channels == b.ch_layout.nb_channels &&
           a.extradata_size == b.extradata_size &&
           (a.extradata_size == 0 || std::equal(a.extradata, a.extradata + a.extradata_size, b.extradata));
}

PictureAttachment& picture_slot(Frame& frame) {
    return frame.attach<PictureAttachment>();
}

void PictureAttachment::copy_to(Frame& target) const {
    PictureAttachment& copy = picture_slot(target);
    av_frame_unref(copy.picture.get());
    if (picture->buf[0] != nullptr && av_frame_ref(copy.picture.get(), picture.get()) < 0)
        throw Error("copying a decoded picture for a branch: out of memory");
    copy.stream = stream;
}

namespace {

Duration media_time_of(const AVFrame& picture, const StreamParameters& stream) {
    const std::int64_t ts = picture.best_effort_timestamp != AV_NOPTS_VALUE ? picture.best_effort_timestamp : picture.pts;
    if (ts == AV_NOPTS_VALUE) return Duration{0};
    return duration_from_seconds(seconds_of(ts - stream.start_pts, stream.time_base));
}

// Inter-frame codecs: one decoder, frames in order. A packet that yields no picture yet (the decoder is reordering
// B-frames) is held; every later packet's frame carries the oldest picture ready; held frames carry what the decoder
// gives up when drained. Output frames are renumbered in picture order.
class SerialDecode final : public Stage {
public:
    SerialDecode(int threads, std::string source_name, bool keyframes_only)
        : Stage({.name = "decode", .max_held = kMaxHeld + static_cast<std::size_t>(threads)}),
          threads_(threads),
          keyframes_only_(keyframes_only),
          source_name_(std::move(source_name)) {}

    void open(const StageContext& context) override {
        waiting_for_key_ = context.source.live;  // a live stream may be joined between keyframes
        health_ = context.health;
        packet_.reset(av_packet_alloc());
        for (auto& slot : backlog_) slot.reset(av_frame_alloc());
        scratch_.reset(av_frame_alloc());
    }

    Outcome process(Frame& frame) override {
        if (frame.format != PixelFormat::encoded) throw BadFrame("decode expects compressed input");
        follow_stream(stream_of(frame));
        if (skipped_to_keyframe(frame)) return Outcome::reject;  // undecodable: its references never came
        if (keyframes_only_ && !frame.key) return Outcome::drop;  // chosen: counted as filtered, not lost
        last_capture_ = frame.capture_time;
        load_packet(*packet_, frame);
        int ret = avcodec_send_packet(context_.get(), packet_.get());
        if (ret == AVERROR(EAGAIN)) {  // the decoder's output is full: collect it, then the packet fits
            receive_all();
            ret = avcodec_send_packet(context_.get(), packet_.get());
        }
        if (ret < 0 && ret != AVERROR(EAGAIN))
            throw BadFrame(fmt::format("undecodable packet: {}", av_error_text(ret)));
        receive_all();
        if (backlog_count_ == 0) {
            if (held_ < traits().max_held) {
                ++held_;
                return Outcome::hold;
            }
            throw BadFrame("the decoder produced no picture for this packet");
        }
        carry_picture(frame);
        return Outcome::pass;
    }

    // A held frame carries a picture the decoder gave up only now; its data was complete when the last packet
    // arrived, so that is its capture time (its own packet's time would count the whole file as latency).
    bool flush(Frame& frame) override {
        if (!context_) return false;
        if (!draining_) {
            draining_ = true;
            avcodec_send_packet(context_.get(), nullptr);
        }
        receive_all();
        if (backlog_count_ == 0) return false;
        carry_picture(frame);
        frame.capture_time = last_capture_;
        return true;
    }

    void close() override {
        if (skipped_packets_ > 0)
            spdlog::info("{}: decode: {} packet(s) skipped while waiting for a keyframe ({} loss{} before decoding)",
                         source_name_, skipped_packets_, gaps_, gaps_ == 1 ? "" : "es");
        if (dropped_pictures_ > 0)
            spdlog::warn("{}: {} decoded pictures had no frame to carry them and were dropped", source_name_,
                         dropped_pictures_);
        if (health_ != nullptr && health_->damaged() > 0)
            spdlog::warn("{}: {} picture(s) were decoded with errors concealed (the input is damaged)", source_name_,
                         health_->damaged());
        errors_.reset();
        context_.reset();
    }

private:
    // The first packet opens the decoder; a reopened source with different parameters gets a new one (after the old
    // one gave up its pictures, which later frames carry).
    void follow_stream(const std::shared_ptr<const StreamParameters>& stream) {
        if (stream == stream_) return;
        if (context_ && stream_ && stream->same_codec(*stream_)) {
            stream_ = stream;
            return;
        }
        if (context_) {
            avcodec_send_packet(context_.get(), nullptr);
            receive_all();
            spdlog::info("{}: the stream's format changed ({} {}x{}); decoding it afresh", source_name_,
                         avcodec_get_name(stream->codec->codec_id), stream->codec->width, stream->codec->height);
        }
        stream_ = stream;
        errors_.reset();
        context_ = open_decoder(*stream_, threads_, source_name_);
        errors_ = std::make_unique<ErrorCounter>(context_.get());
        waiting_for_key_ = true;
    }

    // Pictures need their references. Until a keyframe arrives, packets are dropped (counted as the stage's drops)
    // rather than decoded into smeared pictures that would, among other things, read as motion: at the start of a live
    // stream (joined between keyframes) and after packets of a live source were lost before decoding (a full edge, no
    // free frame). A stream without keyframes (intra refresh) is decoded anyway after kMaxKeyWait packets.
    bool skipped_to_keyframe(const Frame& packet) {
        const bool gap = seen_packet_ && packet.sequence != last_sequence_ + 1;
        seen_packet_ = true;
        last_sequence_ = packet.sequence;
        if (packet.key) {
            waiting_for_key_ = false;
            waited_ = 0;
            return false;
        }
        if (gap && !waiting_for_key_) {
            if (gaps_++ == 0)
                spdlog::warn("{}: packets were lost before decoding (the live edge in front of the decoder was full: "
                             "decoding fell behind, or a burst arrived); skipping to the next keyframe",
                             source_name_);
            waiting_for_key_ = true;
        }
        if (!waiting_for_key_) return false;
        if (++waited_ > kMaxKeyWait) {
            spdlog::warn("{}: no keyframe in {} packets; decoding without one (the stream may use intra refresh)",
                         source_name_, kMaxKeyWait);
            waiting_for_key_ = false;
            waited_ = 0;
            return false;
        }
        ++skipped_packets_;
        return true;
    }

    void receive_all() {
        for (;;) {
            const int ret = avcodec_receive_frame(context_.get(), scratch_.get());
            if (ret < 0) return;  // EAGAIN (needs input), EOF (drained) or a decode error already reported
            if (backlog_count_ == backlog_.size()) {
                av_frame_unref(scratch_.get());
                ++dropped_pictures_;
                continue;
            }
            if (damaged(*scratch_) || errors_->take() > 0) health_->count_damaged();
            AVFrame* slot = backlog_[(backlog_head_ + backlog_count_) % backlog_.size()].get();
            av_frame_move_ref(slot, scratch_.get());
            ++backlog_count_;
        }
    }

    void carry_picture(Frame& frame) {
        AVFrame* picture = backlog_[backlog_head_].get();
        PictureAttachment& slot = picture_slot(frame);
        av_frame_unref(slot.picture.get());
        av_frame_move_ref(slot.picture.get(), picture);
        backlog_head_ = (backlog_head_ + 1) % backlog_.size();
        --backlog_count_;
        frame.format = PixelFormat::native;
        frame.sequence = next_picture_++;
        frame.media_time = media_time_of(*slot.picture, *stream_);
        frame.pts = slot.picture->pts;
    }

    int threads_;
    bool keyframes_only_;
    std::string source_name_;
    StageHealth* health_ = nullptr;
    std::shared_ptr<const StreamParameters> stream_;  // what context_ was opened for
    CodecContextPtr context_;
    std::unique_ptr<ErrorCounter> errors_;  // what context_ logged: damage some codecs report nowhere else
    PacketPtr packet_;
    FramePtr scratch_;
    std::array<FramePtr, kBacklog> backlog_;
    std::size_t backlog_head_ = 0;
    std::size_t backlog_count_ = 0;
    std::size_t held_ = 0;
    std::uint64_t next_picture_ = 0;
    std::uint64_t dropped_pictures_ = 0;
    std::uint64_t skipped_packets_ = 0;
    std::uint64_t gaps_ = 0;
    std::uint64_t last_sequence_ = 0;
    std::uint64_t waited_ = 0;
    bool seen_packet_ = false;
    bool waiting_for_key_ = false;
    bool draining_ = false;
    TimePoint last_capture_{};
};

// Intra-only codecs (MJPEG, ...): every packet decodes on its own, so frames decode in parallel, each worker with a
// codec context of its own.
class ParallelDecode final : public Stage {
public:
    explicit ParallelDecode(std::string source_name)
        : Stage({.name = "decode", .parallel = true, .max_concurrency = kSlots}), source_name_(std::move(source_name)) {}

    void open(const StageContext& context) override {
        health_ = context.health;
        for (Decoder& d : decoders_.all()) d.packet.reset(av_packet_alloc());
    }

    Outcome process(Frame& frame) override {
        if (frame.format != PixelFormat::encoded) throw BadFrame("decode expects compressed input");
        const std::shared_ptr<const StreamParameters>& stream = stream_of(frame);
        auto decoder = decoders_.claim();
        if (stream != decoder->stream) {  // each worker's decoder follows the stream on its own
            if (!decoder->context || !decoder->stream || !stream->same_codec(*decoder->stream)) {
                decoder->errors.reset();
                decoder->context = open_decoder(*stream, 1, source_name_);
                decoder->errors = std::make_unique<ErrorCounter>(decoder->context.get());
            }
            decoder->stream = stream;
        }
        load_packet(*decoder->packet, frame);
        int ret = avcodec_send_packet(decoder->context.get(), decoder->packet.get());
        if (ret < 0) throw BadFrame(fmt::format("undecodable packet: {}", av_error_text(ret)));
        PictureAttachment& slot = picture_slot(frame);
        av_frame_unref(slot.picture.get());
        ret = avcodec_receive_frame(decoder->context.get(), slot.picture.get());
        if (ret < 0) throw BadFrame(fmt::format("no picture in packet: {}", av_error_text(ret)));
        if (damaged(*slot.picture) || decoder->errors->take() > 0) health_->count_damaged();
        frame.format = PixelFormat::native;
        frame.media_time = media_time_of(*slot.picture, *stream);
        return Outcome::pass;
    }

    void close() override {
        if (health_ != nullptr && health_->damaged() > 0)
            spdlog::warn("{}: {} picture(s) were decoded with errors concealed (the input is damaged)", source_name_,
                         health_->damaged());
        for (Decoder& d : decoders_.all()) {
            d.errors.reset();
            d.context.reset();
        }
    }

private:
    static constexpr std::size_t kSlots = 8;
    struct Decoder {
        std::shared_ptr<const StreamParameters> stream;  // what `context` was opened for
        CodecContextPtr context;
        std::unique_ptr<ErrorCounter> errors;
        PacketPtr packet;
    };
    std::string source_name_;
    StageHealth* health_ = nullptr;
    SlotPool<Decoder, kSlots> decoders_;
};

// libswscale writes packed output in blocks: for a width that is not a multiple of 16 it writes up to 46 bytes past
// the last pixel (measured with FFmpeg 5.1, YUV 4:2:0 to BGR24), as FFmpeg's own frames allow with padded buffers.
constexpr std::size_t kSwscaleSlack = 256;

// The frame's image, size x CV_8UC3, with at least kSwscaleSlack bytes allocated after its last pixel: a view of the
// first rows of a taller buffer. Kept with the pooled frame, so a steady stream allocates nothing.
// The view ends where its pixels end (dataend): OpenCV's filters read the rows below a view of a taller buffer as
// the picture's surroundings (locateROI) instead of mirroring its edge, and these rows are swscale's scratch. Before
// that, a blur after convert took its bottom rows from whatever the slack held.
cv::Mat& writable_by_swscale(Frame& frame, cv::Size size) {
    cv::Mat& image = frame.prepare_image(size, CV_8UC3);
    if (size.area() <= 0) return image;
    const std::size_t row = static_cast<std::size_t>(size.width) * 3;
    const uchar* end = image.ptr(size.height - 1) + row;  // past the last pixel
    if (image.datalimit - end >= static_cast<std::ptrdiff_t>(kSwscaleSlack)) return image;
    const int extra_rows = static_cast<int>((kSwscaleSlack + row - 1) / row);
    image = cv::Mat(size.height + extra_rows, size.width, CV_8UC3).rowRange(0, size.height);
    image.dataend = image.ptr(size.height - 1) + row;
    return image;
}

}  // namespace

bool full_range_of(int format, int range) {
    return range == AVCOL_RANGE_JPEG || format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P ||
           format == AV_PIX_FMT_YUVJ444P;
}

std::size_t swscale_bgr_stride(int width) { return static_cast<std::size_t>((width + 7) / 8 * 8 * 3); }

cv::Mat swscale_bgr_picture(cv::Size size) {
    const auto stride = static_cast<int>(swscale_bgr_stride(size.width));
    const int slack_rows = static_cast<int>(kSwscaleSlack) / stride + 1;
    return cv::Mat(size.height + slack_rows, stride / 3, CV_8UC3).rowRange(0, size.height).colRange(0, size.width);
}

cv::Mat swscale_bgr(const std::uint8_t* const planes[3], const int strides[3], int width, int rows, int format,
                    int colorspace, int range) {
    const SwsPtr converter = bgr_converter(width, rows, format, colorspace, range);
    if (!converter) return {};
    cv::Mat bgr = swscale_bgr_picture({width, rows});
    uint8_t* out[1] = {bgr.data};
    const int out_stride[1] = {static_cast<int>(bgr.step)};
    if (sws_scale(converter.get(), planes, strides, 0, rows, out, out_stride) != rows) return {};
    return bgr;
}

int swscale_matrix_of(int colorspace) {
    if (colorspace == AVCOL_SPC_BT709) return SWS_CS_ITU709;
    if (colorspace == AVCOL_SPC_BT2020_NCL || colorspace == AVCOL_SPC_BT2020_CL) return SWS_CS_BT2020;
    return SWS_CS_DEFAULT;
}

SwsPtr bgr_converter(int width, int height, int format, int colorspace, int range) {
    SwsPtr context(sws_getContext(width, height, static_cast<AVPixelFormat>(format), width, height, AV_PIX_FMT_BGR24,
                                  SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!context) return context;
    sws_setColorspaceDetails(context.get(), sws_getCoefficients(swscale_matrix_of(colorspace)),
                             full_range_of(format, range) ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16,
                             1 << 16);
    return context;
}

namespace {

// Decoded picture (any FFmpeg pixel format) to BGR, with the stream's colour matrix and range.
class Convert final : public Stage {
public:
    Convert() : Stage({.name = "convert", .parallel = true, .max_concurrency = kSlots}) {}

    Outcome process(Frame& frame) override {
        if (frame.format == PixelFormat::bgr) return Outcome::pass;
        auto* attachment = frame.find<PictureAttachment>();
        if (frame.format != PixelFormat::native || attachment == nullptr)
            throw BadFrame("convert expects a decoded picture");
        const AVFrame& picture = *attachment->picture;
        auto scaler = scalers_.claim();
        SwsContext* context = scaler->context_for(picture);
        if (context == nullptr)
            throw BadFrame(fmt::format("cannot convert pixel format '{}'",
                                       av_get_pix_fmt_name(static_cast<AVPixelFormat>(picture.format))));
        cv::Mat& out = writable_by_swscale(frame, cv::Size(picture.width, picture.height));
        if (scaler->exact) {  // swscale's bytes, faster, and exactly width() pixels a row
            scaler->exact->convert(picture.data, picture.linesize, picture.height, out.data, out.step);
        } else {
            // Rows too tight for swscale's whole groups of pixels are converted in a wider scratch picture and copied.
            const bool tight = out.step < swscale_bgr_stride(picture.width);
            cv::Mat& target = tight ? scaler->wide_for(cv::Size(picture.width, picture.height)) : out;
            uint8_t* planes[1] = {target.data};
            const int strides[1] = {static_cast<int>(target.step)};
            sws_scale(context, picture.data, picture.linesize, 0, picture.height, planes, strides);
            if (tight) target.copyTo(out);
        }
        const int turns = attachment->stream ? attachment->stream->quarter_turns : 0;
        attachment->reset();  // give the buffer back to the decoder's pool now
        if (turns != 0) {  // upright, as the container says it is shown (a phone's portrait video)
            const cv::Size upright = turns == 2 ? out.size() : cv::Size(out.rows, out.cols);
            cv::Mat& turned = frame.buffer(upright, CV_8UC3);
            cv::rotate(out, turned,
                       turns == 1 ? cv::ROTATE_90_CLOCKWISE : turns == 2 ? cv::ROTATE_180 : cv::ROTATE_90_COUNTERCLOCKWISE);
            frame.set_image(turned);
        }
        frame.format = PixelFormat::bgr;
        return Outcome::pass;
    }

private:
    static constexpr std::size_t kSlots = 8;
    struct Scaler {
        SwsPtr context;
        // The same conversion by Yuv420ToBgr, where it reproduces swscale's (4:2:0 of even height).
        std::optional<Yuv420ToBgr> exact;
        int width = 0, height = 0, format = -1, colorspace = -1, range = -1;

        SwsContext* context_for(const AVFrame& picture) {
            if (context && width == picture.width && height == picture.height && format == picture.format &&
                colorspace == raw_value(picture.colorspace) && range == raw_value(picture.color_range))
                return context.get();
            context.reset();  // until both are made: a throw below leaves no converter of another geometry behind
            exact.reset();
            width = picture.width;
            height = picture.height;
            format = picture.format;
            colorspace = raw_value(picture.colorspace);
            range = raw_value(picture.color_range);
            exact = height % 2 == 0 ? Yuv420ToBgr::make(width, format, colorspace, range) : std::nullopt;
            context = bgr_converter(width, height, format, colorspace, range);
            return context.get();
        }

        // A picture of `size` whose rows have room for swscale's last group of pixels.
        cv::Mat& wide_for(cv::Size size) {
            if (wide.size() != size) wide = swscale_bgr_picture(size);
            return wide;
        }
        cv::Mat wide;  // see wide_for()
    };
    SlotPool<Scaler, kSlots> scalers_;
};

}  // namespace

std::unique_ptr<Stage> make_decode_stage(bool intra_only, int threads, std::string source_name, bool keyframes_only) {
    if (intra_only) return std::make_unique<ParallelDecode>(std::move(source_name));  // every packet is a keyframe
    // Frame threads delay each picture by as many packets as there are threads: with keyframes only that would be
    // seconds. One thread decodes a keyframe as soon as it comes.
    return std::make_unique<SerialDecode>(keyframes_only ? 1 : threads, std::move(source_name), keyframes_only);
}

std::unique_ptr<Stage> make_convert_stage() { return std::make_unique<Convert>(); }

bool is_convert_stage(const Stage& stage) { return dynamic_cast<const Convert*>(&stage) != nullptr; }

}  // namespace framepipe::media
