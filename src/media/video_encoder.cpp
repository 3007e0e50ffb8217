#include "video_encoder.hpp"

#include "av_support.hpp"
#include "muxed_file.hpp"

#include <framepipe/error.hpp>

extern "C" {
#include <libavutil/opt.h>
}

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

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
    MakeRoom make_room;
    // Freed in this order by release(): the muxer and its file, then the encoder.
    std::unique_ptr<MuxedFile> file;
    CodecContextPtr encoder;
    AVStream* stream = nullptr;
    FramePtr picture;
    PacketPtr packet;
    SwsPtr scaler;
    int source_width = 0, source_height = 0, source_type = -1;
    bool warned_resize = false;
    bool constant_rate = false;     // time base 1/fps: pts count frames
    std::int64_t frame_ticks = 1;   // one frame at `fps` in the encoder's time base
    std::optional<Duration> first_time;
    std::int64_t last_pts = AV_NOPTS_VALUE;
    std::int64_t min_step = 1;      // one tick of the muxer's time base (coarser for MKV: 1 ms), in the encoder's
    std::int64_t flush_ticks = 0;   // flush_interval in the encoder's time base; 0 = no timed flushes
    std::int64_t flushed_pts = AV_NOPTS_VALUE;
    std::int64_t written = 0, muxed = 0, durable = 0;
    bool opened = false;
    bool finished = false;

    ~Impl() { release(); }

    [[noreturn]] void fail(const std::string& what, int code) {
        finished = true;
        encoder.reset();
        if (file) file->fail(what, code);  // closes the file, naming the failed write's cause
        throw Error(fmt::format("'{}': {}: {}", path, what, av_error_text(code)));
    }
    // Runs a MuxedFile call; if it throws (it closed the file), the encoder takes no more frames either.
    template <class Call>
    void on_file(Call call) {
        try {
            call(*file);
        } catch (...) {
            finished = true;
            encoder.reset();
            throw;
        }
    }

    // Frees the muxer, the file and the encoder without finishing the file: what reached it stays.
    void release() noexcept {
        if (file) file->release();
        encoder.reset();
    }

    // Sets up the encoder in time base `base`; an AVERROR when the codec refuses it.
    int open_codec(int width, int height, AVRational base, AVRational rate) {
        encoder.reset(avcodec_alloc_context3(codec));
        encoder->width = width;
        encoder->height = height;
        encoder->pix_fmt = pixel_format;
        encoder->time_base = base;
        encoder->framerate = rate;
        if (options.gop > 0) encoder->gop_size = options.gop;
        if (options.bitrate > 0) encoder->bit_rate = options.bitrate;
        if (format->flags & AVFMT_GLOBALHEADER) encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        AVDictionary* codec_options = nullptr;
        const std::string name = codec->name;
        if (name == "libx264" || name == "libx265") {
            av_dict_set(&codec_options, "preset", options.preset.c_str(), 0);
            if (options.low_delay) av_dict_set(&codec_options, "tune", "zerolatency", 0);
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
        if (options.low_delay) {
            encoder->max_b_frames = 0;
            // libvpx, libaom and others queue frames for two-pass-like decisions: none held back.
            auto* priv_class = const_cast<AVClass**>(&codec->priv_class);
            if (codec->priv_class != nullptr &&
                av_opt_find(priv_class, "lag-in-frames", nullptr, 0, AV_OPT_SEARCH_FAKE_OBJ) != nullptr)
                av_dict_set(&codec_options, "lag-in-frames", "0", 0);
        }
        const int ret = avcodec_open2(encoder.get(), codec, &codec_options);
        av_dict_free(&codec_options);
        return ret;
    }

    void open(int width, int height) {
        const AVRational rate = av_d2q(options.fps, 100000);
        // A container without timestamps of its own (AVI) counts frames; elsewhere keep the source's timing, in the
        // finest time base the codec takes (MPEG-4 part 2 takes at most 65535 ticks a second, MPEG-1/2 only 1/fps).
        constant_rate = std::string(format->name) == "avi";
        std::vector<AVRational> bases;
        const AVCodecID id = codec->id;
        const bool coarse = id == AV_CODEC_ID_MPEG4 || id == AV_CODEC_ID_H263 || id == AV_CODEC_ID_H263P ||
                            id == AV_CODEC_ID_MSMPEG4V2 || id == AV_CODEC_ID_MSMPEG4V3 || id == AV_CODEC_ID_FLV1;
        const bool rate_only = id == AV_CODEC_ID_MPEG1VIDEO || id == AV_CODEC_ID_MPEG2VIDEO;
        if (!constant_rate && !rate_only) {
            if (!coarse) bases.push_back({1, 90000});
            bases.push_back({1, 1000});
        }
        bases.push_back(av_inv_q(rate));
        int ret = 0;
        for (const AVRational base : bases)
            if ((ret = open_codec(width, height, base, rate)) >= 0) break;
        if (ret < 0) fail(fmt::format("cannot open the '{}' encoder", codec->name), ret);
        constant_rate = av_cmp_q(encoder->time_base, av_inv_q(rate)) == 0;
        frame_ticks = std::max<std::int64_t>(1, av_rescale_q(1, av_inv_q(rate), encoder->time_base));
        if (options.flush_interval > Duration::zero())
            flush_ticks = std::max<std::int64_t>(
                1, av_rescale_q(std::chrono::duration_cast<std::chrono::microseconds>(options.flush_interval).count(),
                                AVRational{1, 1000000}, encoder->time_base));

        try {
            file = std::make_unique<MuxedFile>(path, format);
        } catch (...) {
            finished = true;
            encoder.reset();
            throw;
        }
        file->on_full_disk(make_room);
        stream = avformat_new_stream(file->container(), nullptr);
        if (stream == nullptr) fail("cannot set up the container", AVERROR(ENOMEM));
        stream->time_base = encoder->time_base;
        stream->avg_frame_rate = rate;
        avcodec_parameters_from_context(stream->codecpar, encoder.get());
        on_file([&](MuxedFile& f) { f.open(options.fragmented); });
        min_step = std::max<std::int64_t>(1, av_rescale_q_rnd(1, stream->time_base, encoder->time_base, AV_ROUND_UP));
        picture.reset(av_frame_alloc());
        picture->format = pixel_format;
        picture->width = width;
        picture->height = height;
        ret = av_frame_get_buffer(picture.get(), 0);
        if (ret < 0) fail("out of memory", ret);
        packet.reset(av_packet_alloc());
        opened = true;
        if (flush_ticks > 0) flush();
    }

    // The pts of a frame at media_time: relative to the first frame, strictly increasing in the file's time base too.
    std::int64_t pts_of(std::optional<Duration> media_time) {
        std::int64_t pts = 0;
        if (!media_time) {
            pts = last_pts == AV_NOPTS_VALUE ? 0 : last_pts + frame_ticks;
        } else {
            if (!first_time) first_time = *media_time;
            const auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(*media_time - *first_time).count();
            pts = av_rescale_q_rnd(since, AVRational{1, 1000000000}, encoder->time_base,
                                   static_cast<AVRounding>(AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX));
        }
        if (last_pts != AV_NOPTS_VALUE && pts < last_pts + min_step) pts = last_pts + min_step;
        last_pts = pts;
        return pts;
    }

    // Hands the muxer's buffered data and the AVIO buffer to the OS: after this, a SIGKILL loses nothing written.
    void flush() {
        on_file([](MuxedFile& f) { f.flush(); });
        durable = muxed;
    }

    void drain(bool flushing, const std::stop_token& abort = {}) {
        for (;;) {
            if (abort.stop_requested()) return;  // finishing in a hurry: what the encoder still holds is given up
            const int ret = avcodec_receive_packet(encoder.get(), packet.get());
            if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
            if (ret < 0) fail("encoding failed", ret);
            if (packet->duration == 0) packet->duration = frame_ticks;
            const std::int64_t pts = packet->pts;
            av_packet_rescale_ts(packet.get(), encoder->time_base, stream->time_base);
            packet->stream_index = stream->index;
            on_file([&](MuxedFile& f) { f.write(*packet, flushing ? "cannot finish the file" : "cannot write to the file"); });
            av_packet_unref(packet.get());
            ++muxed;
            // Timed flushes: at the first packet (the file plays from then on), then whenever a packet is
            // flush_interval of media time past the last flush.
            if (flush_ticks > 0 && pts != AV_NOPTS_VALUE) {
                if (flushed_pts == AV_NOPTS_VALUE || pts - flushed_pts >= flush_ticks) {
                    flush();
                    flushed_pts = pts;
                }
            }
        }
    }

    void write(const cv::Mat& image, std::optional<Duration> media_time) {
        if (finished) throw Error(fmt::format("'{}': write after finish", path));
        if (image.empty() || (image.type() != CV_8UC3 && image.type() != CV_8UC1))
            throw Error(fmt::format("'{}': frames must be 8-bit BGR or gray", path));
        if (!opened) open(image.cols & ~1, image.rows & ~1);  // 4:2:0 needs even sizes
        if (image.cols != source_width || image.rows != source_height || image.type() != source_type) {
            if (scaler && !warned_resize) {
                spdlog::warn("'{}': frame size changed to {}x{}; scaling to the video's {}x{}", path, image.cols,
                             image.rows, encoder->width, encoder->height);
                warned_resize = true;
            }
            source_width = image.cols;
            source_height = image.rows;
            source_type = image.type();
            scaler.reset(sws_getContext(image.cols, image.rows,
                                        image.type() == CV_8UC3 ? AV_PIX_FMT_BGR24 : AV_PIX_FMT_GRAY8, encoder->width,
                                        encoder->height, pixel_format, SWS_BILINEAR, nullptr, nullptr, nullptr));
            if (!scaler) throw Error(fmt::format("'{}': cannot convert frames for the encoder", path));
        }
        int ret = av_frame_make_writable(picture.get());
        if (ret < 0) fail("out of memory", ret);
        const uint8_t* planes[1] = {image.data};
        const int strides[1] = {static_cast<int>(image.step)};
        sws_scale(scaler.get(), planes, strides, 0, image.rows, picture->data, picture->linesize);
        picture->pts = pts_of(media_time);
        ret = avcodec_send_frame(encoder.get(), picture.get());
        if (ret < 0) fail("encoding failed", ret);
        ++written;
        drain(false);
    }

    void finish(const std::stop_token& abort) {
        if (finished) return;
        finished = true;
        if (!opened) return;
        int ret = avcodec_send_frame(encoder.get(), nullptr);
        if (ret < 0) fail("cannot finish the file", ret);
        drain(true, abort);
        on_file([](MuxedFile& f) { f.finish(); });
        durable = muxed;
        encoder.reset();
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

void VideoEncoder::on_full_disk(MakeRoom make_room) { impl_->make_room = std::move(make_room); }
void VideoEncoder::write(const cv::Mat& image) { impl_->write(image, std::nullopt); }
void VideoEncoder::write(const cv::Mat& image, Duration media_time) { impl_->write(image, media_time); }
void VideoEncoder::finish(std::stop_token abort) { impl_->finish(abort); }

std::int64_t VideoEncoder::frames_written() const noexcept { return impl_->written; }
std::int64_t VideoEncoder::frames_durable() const noexcept { return impl_->durable; }
const std::string& VideoEncoder::path() const noexcept { return impl_->path; }
bool VideoEncoder::disk_full() const noexcept { return impl_->file && impl_->file->disk_full(); }

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

void prepare_output_folder(const std::string& dir, const std::string& who) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!dir.empty()) fs::create_directories(dir, ec);
    if (ec)
        throw ConfigError(fmt::format("{}: cannot create the folder '{}': {}; choose a folder you can write to (a "
                                      "path under a regular file cannot be a folder)",
                                      who, dir, ec.message()));
    const fs::path probe = fs::path(dir.empty() ? "." : dir) / fmt::format(".framepipe-write-check-{}", ::getpid());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        throw ConfigError(fmt::format("{}: cannot write in the folder '{}': {}; choose a folder you can write to, or "
                                      "change its permissions",
                                      who, dir.empty() ? "." : dir, std::strerror(errno)));
    ::close(fd);
    fs::remove(probe, ec);
}

void create_output_file(const std::string& path, const std::string& who) {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    prepare_output_folder(dir, who);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw ConfigError(fmt::format("{}: cannot create '{}': {}; choose another path, or change the permissions",
                                      who, path, std::strerror(errno)));
    ::close(fd);
}

bool holds_playable_frame(const std::string& path) {
    quiet_ffmpeg_logging();
    AVFormatContext* raw = nullptr;
    if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0) return false;
    const FormatContextPtr input(raw);
    if (avformat_find_stream_info(input.get(), nullptr) < 0) return false;
    const AVCodec* decoder_codec = nullptr;
    const int index = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder_codec, 0);
    if (index < 0 || decoder_codec == nullptr) return false;
    const CodecContextPtr decoder(avcodec_alloc_context3(decoder_codec));
    if (!decoder || avcodec_parameters_to_context(decoder.get(), input->streams[index]->codecpar) < 0 ||
        avcodec_open2(decoder.get(), decoder_codec, nullptr) < 0)
        return false;
    const PacketPtr packet(av_packet_alloc());
    const FramePtr picture(av_frame_alloc());
    // A keyframe starts every file we write; a few hundred packets bound the work on a file that never decodes.
    for (int packets = 0; packets < 300; ++packets) {
        const bool more = av_read_frame(input.get(), packet.get()) >= 0;
        if (more && packet->stream_index != index) {
            av_packet_unref(packet.get());
            continue;
        }
        const int sent = avcodec_send_packet(decoder.get(), more ? packet.get() : nullptr);
        av_packet_unref(packet.get());
        if (sent < 0 && sent != AVERROR(EAGAIN) && more) continue;
        if (avcodec_receive_frame(decoder.get(), picture.get()) >= 0) return true;
        if (!more) return false;
    }
    return false;
}

}  // namespace framepipe::media
