#include "video_encoder.hpp"

#include "av_support.hpp"

#include <framepipe/error.hpp>

extern "C" {
#include <libavutil/opt.h>
}

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

namespace framepipe::media {
namespace {

const AVCodec* find_encoder(const std::string& name) {
    static const std::map<std::string, std::vector<const char*>> friendly = {
        {"h264", {"libx264", "h264"}},      {"avc", {"libx264", "h264"}},  {"h265", {"libx265", "hevc"}},
        {"hevc", {"libx265", "hevc"}},      {"vp9", {"libvpx-vp9"}},       {"vp8", {"libvpx"}},
        {"mpeg4", {"mpeg4", "libxvid"}},    {"mjpeg", {"mjpeg"}},          {"ffv1", {"ffv1"}},
        {"av1", {"libaom-av1", "libsvtav1"}}};
    const auto it = friendly.find(name);
    if (it != friendly.end()) {
        for (const char* encoder : it->second)
            if (const AVCodec* codec = avcodec_find_encoder_by_name(encoder)) return codec;
        return nullptr;
    }
    const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
    return codec != nullptr && codec->type == AVMEDIA_TYPE_VIDEO ? codec : nullptr;
}

}  // namespace

struct VideoEncoder::Impl {
    std::string path;
    Options options;
    const AVCodec* codec = nullptr;
    const AVOutputFormat* format = nullptr;
    AVPixelFormat pixel_format = AV_PIX_FMT_YUV420P;
    std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> container{nullptr, [](AVFormatContext* c) {
                                                                                if (c == nullptr) return;
                                                                                if (c->pb != nullptr &&
                                                                                    !(c->oformat->flags & AVFMT_NOFILE))
                                                                                    avio_closep(&c->pb);
                                                                                avformat_free_context(c);
                                                                            }};
    CodecContextPtr encoder;
    AVStream* stream = nullptr;
    FramePtr picture;
    PacketPtr packet;
    SwsPtr scaler;
    int source_width = 0, source_height = 0, source_type = -1;
    bool warned_resize = false;
    std::int64_t written = 0;
    bool opened = false;
    bool finished = false;

    [[noreturn]] void fail(const std::string& what, int code) const {
        throw Error(fmt::format("'{}': {}: {}", path, what, av_error_text(code)));
    }

    void open(int width, int height) {
        AVFormatContext* raw = nullptr;
        int ret = avformat_alloc_output_context2(&raw, format, nullptr, path.c_str());
        if (ret < 0) fail("cannot set up the container", ret);
        container.reset(raw);
        encoder.reset(avcodec_alloc_context3(codec));
        encoder->width = width;
        encoder->height = height;
        encoder->pix_fmt = pixel_format;
        const AVRational rate = av_d2q(options.fps, 100000);
        encoder->time_base = av_inv_q(rate);
        encoder->framerate = rate;
        if (options.gop > 0) encoder->gop_size = options.gop;
        if (options.bitrate > 0) encoder->bit_rate = options.bitrate;
        if (container->oformat->flags & AVFMT_GLOBALHEADER) encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        AVDictionary* codec_options = nullptr;
        const std::string name = codec->name;
        if (name == "libx264" || name == "libx265") {
            av_dict_set(&codec_options, "preset", options.preset.c_str(), 0);
            if (options.bitrate == 0 && options.crf >= 0) av_dict_set_int(&codec_options, "crf", options.crf, 0);
        } else if (name == "libvpx-vp9" || name == "libvpx") {
            av_dict_set(&codec_options, "deadline", "realtime", 0);
            av_dict_set(&codec_options, "cpu-used", "8", 0);
            if (options.bitrate == 0 && options.crf >= 0) {
                av_dict_set_int(&codec_options, "crf", options.crf, 0);
                encoder->bit_rate = 0;
            }
        } else if (options.bitrate == 0 && (name == "mpeg4" || name == "mjpeg")) {
            encoder->flags |= AV_CODEC_FLAG_QSCALE;
            encoder->global_quality = FF_QP2LAMBDA * 3;
        }
        ret = avcodec_open2(encoder.get(), codec, &codec_options);
        av_dict_free(&codec_options);
        if (ret < 0) fail(fmt::format("cannot open the '{}' encoder", codec->name), ret);
        stream = avformat_new_stream(container.get(), nullptr);
        stream->time_base = encoder->time_base;
        stream->avg_frame_rate = rate;
        avcodec_parameters_from_context(stream->codecpar, encoder.get());
        if (!(container->oformat->flags & AVFMT_NOFILE)) {
            ret = avio_open(&container->pb, path.c_str(), AVIO_FLAG_WRITE);
            if (ret < 0) fail("cannot create the file", ret);
        }
        AVDictionary* muxer_options = nullptr;
        if (options.fragmented) av_dict_set(&muxer_options, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
        ret = avformat_write_header(container.get(), &muxer_options);
        av_dict_free(&muxer_options);
        if (ret < 0) fail("cannot write the header", ret);
        picture.reset(av_frame_alloc());
        picture->format = pixel_format;
        picture->width = width;
        picture->height = height;
        ret = av_frame_get_buffer(picture.get(), 0);
        if (ret < 0) fail("out of memory", ret);
        packet.reset(av_packet_alloc());
        opened = true;
    }

    void drain(bool flushing) {
        for (;;) {
            const int ret = avcodec_receive_packet(encoder.get(), packet.get());
            if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
            if (ret < 0) fail("encoding failed", ret);
            av_packet_rescale_ts(packet.get(), encoder->time_base, stream->time_base);
            packet->stream_index = stream->index;
            const int written_ret = av_interleaved_write_frame(container.get(), packet.get());
            if (written_ret < 0) fail(flushing ? "cannot finish the file" : "cannot write to the file", written_ret);
        }
    }
};

VideoEncoder::VideoEncoder(std::string path, Options options) : impl_(std::make_unique<Impl>()) {
    quiet_ffmpeg_logging();
    Impl& impl = *impl_;
    impl.path = std::move(path);
    impl.options = std::move(options);
    if (impl.options.fps <= 0 || impl.options.fps > 1000)
        throw ConfigError(fmt::format("fps must be between 0 and 1000, got {}", impl.options.fps));
    impl.codec = find_encoder(impl.options.codec);
    if (impl.codec == nullptr)
        throw ConfigError(fmt::format("this system's FFmpeg has no '{}' video encoder; available: {}",
                                      impl.options.codec, available_encoders()));
    impl.format = av_guess_format(nullptr, impl.path.c_str(), nullptr);
    if (impl.format == nullptr)
        throw ConfigError(fmt::format("cannot tell the container from '{}'; end the name in .mp4, .mkv, .mov, .avi, "
                                      ".webm or .ts",
                                      impl.path));
    // 1: it can; 0: it cannot; negative: the muxer does not say (MPEG-TS), so let the header write decide.
    if (avformat_query_codec(impl.format, impl.codec->id, FF_COMPLIANCE_NORMAL) == 0)
        throw ConfigError(fmt::format("the {} container cannot hold {} video; pick another codec or extension",
                                      impl.format->name, avcodec_get_name(impl.codec->id)));
    impl.pixel_format = av_get_pix_fmt(impl.options.pixel_format.c_str());
    if (impl.pixel_format == AV_PIX_FMT_NONE)
        throw ConfigError(fmt::format("unknown pixel format '{}' (try yuv420p)", impl.options.pixel_format));
    if (std::string(impl.codec->name) == "mjpeg" && impl.pixel_format == AV_PIX_FMT_YUV420P)
        impl.pixel_format = AV_PIX_FMT_YUVJ420P;  // the MJPEG encoder wants full-range JPEG YUV
}

VideoEncoder::~VideoEncoder() {
    try {
        finish();
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
    }
}

void VideoEncoder::write(const cv::Mat& image) {
    Impl& impl = *impl_;
    if (impl.finished) throw Error(fmt::format("'{}': write after finish", impl.path));
    if (image.empty() || (image.type() != CV_8UC3 && image.type() != CV_8UC1))
        throw Error(fmt::format("'{}': frames must be 8-bit BGR or gray", impl.path));
    if (!impl.opened) impl.open(image.cols & ~1, image.rows & ~1);  // 4:2:0 needs even sizes
    if (image.cols != impl.source_width || image.rows != impl.source_height || image.type() != impl.source_type) {
        if (impl.scaler && !impl.warned_resize) {
            spdlog::warn("'{}': frame size changed to {}x{}; scaling to the video's {}x{}", impl.path, image.cols,
                         image.rows, impl.encoder->width, impl.encoder->height);
            impl.warned_resize = true;
        }
        impl.source_width = image.cols;
        impl.source_height = image.rows;
        impl.source_type = image.type();
        impl.scaler.reset(sws_getContext(image.cols, image.rows,
                                         image.type() == CV_8UC3 ? AV_PIX_FMT_BGR24 : AV_PIX_FMT_GRAY8,
                                         impl.encoder->width, impl.encoder->height, impl.pixel_format, SWS_BILINEAR,
                                         nullptr, nullptr, nullptr));
        if (!impl.scaler) throw Error(fmt::format("'{}': cannot convert frames for the encoder", impl.path));
    }
    int ret = av_frame_make_writable(impl.picture.get());
    if (ret < 0) impl.fail("out of memory", ret);
    const uint8_t* planes[1] = {image.data};
    const int strides[1] = {static_cast<int>(image.step)};
    sws_scale(impl.scaler.get(), planes, strides, 0, image.rows, impl.picture->data, impl.picture->linesize);
    impl.picture->pts = impl.written;
    ret = avcodec_send_frame(impl.encoder.get(), impl.picture.get());
    if (ret < 0) impl.fail("encoding failed", ret);
    impl.drain(false);
    ++impl.written;
}

void VideoEncoder::finish() {
    Impl& impl = *impl_;
    if (impl.finished) return;
    impl.finished = true;
    if (!impl.opened) return;
    avcodec_send_frame(impl.encoder.get(), nullptr);
    impl.drain(true);
    const int ret = av_write_trailer(impl.container.get());
    if (ret < 0) impl.fail("cannot finish the file", ret);
    impl.container.reset();
    impl.encoder.reset();
}

std::int64_t VideoEncoder::frames_written() const noexcept { return impl_->written; }
const std::string& VideoEncoder::path() const noexcept { return impl_->path; }

std::string VideoEncoder::available_encoders() {
    std::string list;
    void* iterator = nullptr;
    while (const AVCodec* codec = av_codec_iterate(&iterator)) {
        if (codec->type != AVMEDIA_TYPE_VIDEO || !av_codec_is_encoder(codec)) continue;
        const std::string name = codec->name;
        if (name.find("_vaapi") != std::string::npos || name.find("_qsv") != std::string::npos ||
            name.find("_v4l2m2m") != std::string::npos || name.find("_nvenc") != std::string::npos ||
            name.find("_omx") != std::string::npos)
            continue;
        list += (list.empty() ? "" : ", ") + name;
    }
    return list;
}

}  // namespace framepipe::media
