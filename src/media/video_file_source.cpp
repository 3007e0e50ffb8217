#include <framepipe/sources/video_file_source.hpp>

#include "av_support.hpp"
#include "video_decode.hpp"

#include <framepipe/error.hpp>
#include <framepipe/stage.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <system_error>

namespace framepipe {

using namespace media;

namespace {

// Opens a file for demuxing; ConfigError (the user named something unusable) with the file and what to do.
FormatContextPtr open_container(const std::string& path) {
    quiet_ffmpeg_logging();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw ConfigError(fmt::format("'{}': no such file; check the path", path));
    if (std::filesystem::is_directory(path, ec))
        throw ConfigError(fmt::format("'{}' is a folder, not a video (use it as an image folder input)", path));
    AVFormatContext* raw = nullptr;
    int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
    if (ret < 0)
        throw ConfigError(fmt::format("'{}' is not a video FFmpeg can read ({}); if it was cut short (an MP4 without "
                                      "its index), only the writer's crash-safe formats (MKV, MPEG-TS) can be read",
                                      path, av_error_text(ret)));
    FormatContextPtr container(raw);
    ret = avformat_find_stream_info(container.get(), nullptr);
    if (ret < 0) throw ConfigError(fmt::format("'{}': cannot read stream information: {}", path, av_error_text(ret)));
    return container;
}

int find_video_stream(AVFormatContext& container, const std::string& path) {
    const int index = av_find_best_stream(&container, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (index < 0) throw ConfigError(fmt::format("'{}' has no video stream", path));
    return index;
}

VideoFileSource::Probe probe_of(AVFormatContext& container, int index) {
    const AVStream& stream = *container.streams[index];
    const AVCodecParameters& codec = *stream.codecpar;
    VideoFileSource::Probe probe;
    probe.container = container.iformat != nullptr ? container.iformat->name : "";
    probe.codec = avcodec_get_name(codec.codec_id);
    const char* format = av_get_pix_fmt_name(static_cast<AVPixelFormat>(codec.format));
    probe.pixel_format = format != nullptr ? format : "unknown";
    probe.width = codec.width;
    probe.height = codec.height;
    const AVRational rate = av_guess_frame_rate(&container, const_cast<AVStream*>(&stream), nullptr);
    probe.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
    if (stream.duration != AV_NOPTS_VALUE && stream.duration > 0)
        probe.duration = seconds_of(stream.duration, stream.time_base);
    else if (container.duration != AV_NOPTS_VALUE && container.duration > 0)
        probe.duration = static_cast<double>(container.duration) / AV_TIME_BASE;
    if (stream.nb_frames > 0) probe.frame_count = stream.nb_frames;
    probe.bit_rate = codec.bit_rate > 0 ? codec.bit_rate : container.bit_rate;
    const AVCodecDescriptor* descriptor = avcodec_descriptor_get(codec.codec_id);
    probe.intra_only = descriptor != nullptr && (descriptor->props & AV_CODEC_PROP_INTRA_ONLY) != 0;
    return probe;
}

}  // namespace

struct VideoFileSource::Impl {
    Options options;
    FormatContextPtr container;
    int stream_index = -1;
    PacketPtr packet;
    Probe probe;
    std::int64_t start_pts = 0;
    std::uint64_t packets = 0;
    // realtime pacing
    std::chrono::steady_clock::time_point wall_start{};
    double media_start = -1;
};

VideoFileSource::VideoFileSource(Options options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
}

VideoFileSource::~VideoFileSource() = default;

VideoFileSource::Probe VideoFileSource::probe(const std::string& path) {
    FormatContextPtr container = open_container(path);
    return probe_of(*container, find_video_stream(*container, path));
}

SourceInfo VideoFileSource::open() {
    Impl& impl = *impl_;
    const std::string& path = impl.options.path;
    if (impl.options.decode_threads < 1 || impl.options.decode_threads > 16)
        throw ConfigError(fmt::format("decode_threads must be between 1 and 16, got {}", impl.options.decode_threads));
    impl.container = open_container(path);
    impl.stream_index = find_video_stream(*impl.container, path);
    impl.probe = probe_of(*impl.container, impl.stream_index);
    const AVStream& stream = *impl.container->streams[impl.stream_index];
    impl.start_pts = stream.start_time != AV_NOPTS_VALUE ? stream.start_time : 0;
    impl.packet.reset(av_packet_alloc());
    // Only the video stream is read: tell the demuxer to skip the rest.
    for (unsigned i = 0; i < impl.container->nb_streams; ++i)
        if (static_cast<int>(i) != impl.stream_index) impl.container->streams[i]->discard = AVDISCARD_ALL;

    SourceInfo info;
    info.name = impl.options.name.empty() ? std::filesystem::path(path).filename().string() : impl.options.name;
    info.path = path;
    info.live = impl.options.realtime;
    info.fps = impl.probe.fps;
    info.size = cv::Size(impl.probe.width, impl.probe.height);
    info.duration = impl.probe.duration;
    if (impl.probe.frame_count) {
        info.frame_count = impl.probe.frame_count;
    } else if (impl.probe.duration > 0 && impl.probe.fps > 0) {
        info.frame_count = static_cast<std::int64_t>(impl.probe.duration * impl.probe.fps + 0.5);
        info.frame_count_estimated = true;
    }
    return info;
}

ReadResult VideoFileSource::read(Frame& frame, std::stop_token stop) {
    Impl& impl = *impl_;
    AVPacket* packet = impl.packet.get();
    for (;;) {
        if (stop.stop_requested()) return ReadResult::end_of_stream;
        const int ret = av_read_frame(impl.container.get(), packet);
        if (ret == AVERROR_EOF) return ReadResult::end_of_stream;
        if (ret < 0) {
            spdlog::warn("{}: read error after {} packets ({}); treating it as the end of the file",
                         impl.options.path, impl.packets, av_error_text(ret));
            return ReadResult::end_of_stream;
        }
        if (packet->stream_index == impl.stream_index) break;
        av_packet_unref(packet);
    }
    ++impl.packets;
    const AVStream& stream = *impl.container->streams[impl.stream_index];
    frame.encoded.assign(packet->data, packet->data + packet->size);
    frame.format = PixelFormat::encoded;
    frame.key = (packet->flags & AV_PKT_FLAG_KEY) != 0;
    frame.pts = packet->pts;
    frame.dts = packet->dts;
    const std::int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    const double media_seconds = ts == AV_NOPTS_VALUE ? 0.0 : seconds_of(ts - impl.start_pts, stream.time_base);
    frame.media_time = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(media_seconds));
    if (impl.options.realtime) {
        // Release packets at the file's own pace, by decode timestamp (monotonic in file order).
        const std::int64_t pace_ts = packet->dts != AV_NOPTS_VALUE ? packet->dts : ts;
        const double pace = pace_ts == AV_NOPTS_VALUE ? 0.0 : seconds_of(pace_ts - impl.start_pts, stream.time_base);
        if (impl.media_start < 0) {
            impl.media_start = pace;
            impl.wall_start = std::chrono::steady_clock::now();
        }
        const auto due = impl.wall_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                               std::chrono::duration<double>(pace - impl.media_start));
        std::mutex mutex;
        std::condition_variable_any wake;
        std::unique_lock lock(mutex);
        if (wake.wait_until(lock, stop, due, [] { return false; }) || stop.stop_requested()) {
            av_packet_unref(packet);
            return ReadResult::end_of_stream;
        }
    }
    av_packet_unref(packet);
    return ReadResult::frame;
}

void VideoFileSource::close() {
    impl_->packet.reset();
    impl_->container.reset();
}

std::vector<std::unique_ptr<Stage>> VideoFileSource::decode_stages() {
    Impl& impl = *impl_;
    const AVStream& stream = *impl.container->streams[impl.stream_index];
    StreamParameters parameters;
    parameters.codec.reset(avcodec_parameters_alloc());
    avcodec_parameters_copy(parameters.codec.get(), stream.codecpar);
    parameters.time_base = stream.time_base;
    parameters.start_pts = impl.start_pts;
    parameters.intra_only = impl.probe.intra_only;
    parameters.threads = impl.options.decode_threads;
    parameters.source_name = impl.options.path;
    std::vector<std::unique_ptr<Stage>> stages;
    stages.push_back(make_decode_stage(std::move(parameters)));
    stages.push_back(make_convert_stage());
    return stages;
}

}  // namespace framepipe
