#include <framepipe/sources/video_source.hpp>

#include "../media/av_support.hpp"
#include "../media/polling_input.hpp"
#include "../media/stream_name.hpp"
#include "../media/packet.hpp"
#include "../media/video_decode.hpp"

#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/stage.hpp>

extern "C" {
#include <libavdevice/version_major.h>
#include <libavutil/display.h>
}

#include <dlfcn.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <atomic>
#include <cmath>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <system_error>

namespace framepipe {

using namespace media;

namespace {

// A deadline and a stop request that FFmpeg polls while it blocks (opening, probing, reading): either ends the call
// with AVERROR_EXIT. This is what keeps a dead camera or server from hanging a read forever.
struct Interrupt {
    const Clock* clock = &SteadyClock::instance();  // the source's clock (Source::clock()) once it opens
    std::atomic<std::int64_t> deadline_ns{0};  // on `clock`; 0 = none
    std::stop_token stop;

    void arm(Duration timeout) { deadline_ns.store((clock->now() + timeout).time_since_epoch().count()); }
    void disarm() { deadline_ns.store(0); }
    [[nodiscard]] bool expired() const {
        const std::int64_t deadline = deadline_ns.load();
        return deadline != 0 && clock->now().time_since_epoch().count() > deadline;
    }
    static int callback(void* self) {
        const auto* i = static_cast<const Interrupt*>(self);
        return (i->stop.stop_requested() || i->expired()) ? 1 : 0;
    }
};

// Clockwise quarter turns that show a stream upright, from its display matrix (FFmpeg's angle is counter-clockwise).
int quarter_turns_of(const AVStream& stream) {
    const auto* matrix = reinterpret_cast<const std::int32_t*>(
        av_stream_get_side_data(&stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr));
    if (matrix == nullptr) return 0;
    const double angle = av_display_rotation_get(matrix);  // counter-clockwise degrees, NaN when not a rotation
    if (std::isnan(angle)) return 0;
    const long turns = std::lround(-angle / 90.0);
    return static_cast<int>(((turns % 4) + 4) % 4);
}

// Once, before sources open side by side: the TLS libraries' global state.
void init_network() {
    static std::once_flag once;
    std::call_once(once, [] { avformat_network_init(); });
}

// FFmpeg's capture devices (V4L2 cameras), from libavdevice, which is loaded here, when a camera is first opened, and
// not linked: it brings some 70 libraries of its own (SDL, PulseAudio, X11, ...) that every process would otherwise
// bind at start, about 0.1 s of each run. Throws ConfigError when the library is not installed.
void register_devices() {
    static std::once_flag once;
    static std::string failure;
    std::call_once(once, [] {
        const std::string name = fmt::format("libavdevice.so.{}", LIBAVDEVICE_VERSION_MAJOR);
        void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept loaded: FFmpeg now lists its devices
        auto* register_all = library != nullptr ? reinterpret_cast<void (*)()>(dlsym(library, "avdevice_register_all"))
                                                : nullptr;
        if (register_all == nullptr) {
            const char* error = dlerror();
            const std::string why = error != nullptr ? error : "no avdevice_register_all in it";
            if (library != nullptr) dlclose(library);
            failure = fmt::format("this system cannot read V4L2 cameras: FFmpeg's {} did not load ({}); install it "
                                  "(Debian: libavdevice{})",
                                  name, why, LIBAVDEVICE_VERSION_MAJOR);
            return;
        }
        register_all();
    });
    if (!failure.empty()) throw ConfigError(failure);
}

VideoSource::Probe probe_of(AVFormatContext& container, int index) {
    const AVStream& stream = *container.streams[index];
    const AVCodecParameters& codec = *stream.codecpar;
    VideoSource::Probe probe;
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

// Opens a file, stream or device for demuxing and finds its video stream. Files that are missing or are not video are
// ConfigError (the user named something unusable); a stream or camera that does not answer in time is Error (it may
// come back: the supervisor retries). A stop request (interrupt->stop) ends the open at once with Error. A file that
// is not a regular file (a FIFO) is read through `polling` (created here), which must outlive the result.
FormatContextPtr open_input(const VideoSource::Options& options, VideoSource::Kind kind, Interrupt* interrupt,
                            int& stream_index, std::unique_ptr<PollingInput>& polling) {
    quiet_ffmpeg_logging();
    const std::string& path = options.path;
    const std::string shown = VideoSource::redacted(path);  // for messages: no passwords in logs and reports
    std::error_code ec;
    if (kind == VideoSource::Kind::file) {
        if (!std::filesystem::exists(path, ec))
            throw ConfigError(fmt::format("'{}': no such file; check the path", shown));
        if (std::filesystem::is_directory(path, ec))
            throw ConfigError(fmt::format("'{}' is a folder, not a video (use it as an image folder input)", shown));
    }
    const AVInputFormat* format = nullptr;
    AVDictionary* demuxer_options = nullptr;
    if (kind != VideoSource::Kind::file) init_network();
    if (kind == VideoSource::Kind::camera) {
        register_devices();
        format = av_find_input_format("video4linux2");
        if (format == nullptr) throw ConfigError("this system's FFmpeg cannot read V4L2 cameras (libavdevice without v4l2)");
        if (!options.video_size.empty()) av_dict_set(&demuxer_options, "video_size", options.video_size.c_str(), 0);
        if (!options.framerate.empty()) av_dict_set(&demuxer_options, "framerate", options.framerate.c_str(), 0);
        av_dict_set(&demuxer_options, "input_format",
                    options.input_format.empty() ? "mjpeg" : options.input_format.c_str(), 0);
    }
    if (kind == VideoSource::Kind::stream) {
        if (path.rfind("rtsp://", 0) == 0) av_dict_set(&demuxer_options, "rtsp_transport", "tcp", 0);
        av_dict_set(&demuxer_options, "analyzeduration", "2000000", 0);  // 2 s: start promptly
    }
    for (const auto& [key, value] : options.ffmpeg_options) av_dict_set(&demuxer_options, key.c_str(), value.c_str(), 0);

    const bool timed = kind != VideoSource::Kind::file;  // files have no open timeout, but FIFOs are interruptible
    polling.reset();
    if (kind == VideoSource::Kind::file && PollingInput::needed_for(path))
        polling = std::make_unique<PollingInput>(path, AVIOInterruptCB{&Interrupt::callback, interrupt});
    for (int attempt = 0; attempt < 2; ++attempt) {
        AVFormatContext* raw = avformat_alloc_context();
        raw->interrupt_callback = {&Interrupt::callback, interrupt};
        if (timed) interrupt->arm(options.open_timeout);
        if (polling) polling->attach(*raw);
        AVDictionary* attempt_options = nullptr;
        av_dict_copy(&attempt_options, demuxer_options, 0);
        int ret = avformat_open_input(&raw, path.c_str(), format, &attempt_options);
        av_dict_free(&attempt_options);
        if (ret < 0 && kind == VideoSource::Kind::camera && options.input_format.empty() && attempt == 0) {
            av_dict_set(&demuxer_options, "input_format", nullptr, 0);  // no MJPEG: the camera's own default
            continue;
        }
        if (ret < 0) {
            av_dict_free(&demuxer_options);
            const bool timed_out = interrupt->expired();
            interrupt->disarm();
            if (interrupt->stop.stop_requested())
                throw Error(fmt::format("'{}': stopped while opening", shown));
            if (kind == VideoSource::Kind::file)
                throw ConfigError(fmt::format("'{}' is not a video FFmpeg can read ({}); if it was cut short (an MP4 "
                                              "without its index), only crash-safe formats (MKV, MPEG-TS) can be read",
                                              shown, av_error_text(ret)));
            throw Error(fmt::format("'{}': cannot open{}: {}{}", shown,
                                    timed_out
                                        ? fmt::format(" within {} s", in_seconds(options.open_timeout))
                                        : "",
                                    av_error_text(ret),
                                    kind == VideoSource::Kind::camera
                                        ? "; 'framepipe devices' lists the cameras this machine has"
                                        : ""));
        }
        FormatContextPtr container(raw);
        ret = avformat_find_stream_info(container.get(), nullptr);
        const bool timed_out = interrupt->expired();
        interrupt->disarm();
        av_dict_free(&demuxer_options);
        if (interrupt->stop.stop_requested()) throw Error(fmt::format("'{}': stopped while opening", shown));
        if (ret < 0 || (timed_out && container->nb_streams == 0)) {
            const std::string message =
                timed_out ? fmt::format("'{}': cannot open within {} s: no stream information arrived", shown,
                                        in_seconds(options.open_timeout))
                          : fmt::format("'{}': cannot read stream information: {}", shown, av_error_text(ret));
            if (kind == VideoSource::Kind::file) throw ConfigError(message);
            throw Error(message);
        }
        stream_index = av_find_best_stream(container.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
        if (stream_index < 0) throw ConfigError(fmt::format("'{}' has no video stream", shown));
        return container;
    }
    throw Error(fmt::format("'{}': cannot open", shown));
}

}  // namespace

struct VideoSource::Impl {
    Options options;
    Kind kind = Kind::file;
    Interrupt interrupt;
    std::shared_ptr<const StreamParameters> stream;  // of the current connection; every packet carries it
    std::unique_ptr<PollingInput> polling;  // FIFOs and other inputs that would block: outlives `container`
    FormatContextPtr container;
    int stream_index = -1;
    // Audio (keep_audio): the stream read beside the video, and its packets since the last video packet.
    bool keep_audio = false;
    std::size_t inputs_decoding = 1;  // decode_alongside(): this input and the others the pipeline decodes at once
    int audio_index = -1;
    std::vector<Packet> audio_waiting;
    static constexpr std::size_t kMaxAudioWaiting = 1024;  // audio without video for longer than this is let go
    bool warned_audio = false;
    PacketPtr packet;
    Probe probe;
    std::int64_t start_pts = 0;
    std::uint64_t packets = 0;
    bool opened_once = false;
    // realtime pacing
    TimePoint wall_start{};  // on Source::clock()
    double media_start = -1;
    // One timeline across reconnects: timestamps of every connection are rescaled to the first one's time base and
    // continue after the last timestamp seen, so media time (and the decoder's picture times) keep rising.
    AVRational base_time_base{1, 1};
    std::int64_t base_start = 0;
    std::int64_t offset = 0;       // added to this connection's timestamps (base time base)
    std::int64_t last_ts = AV_NOPTS_VALUE;
    std::int64_t step = 1;         // one frame in the base time base
    // Stopping: the latest presentation time delivered (base time base). After a stop, packets that present before it
    // are still delivered (B-frames a delivered reference needs to be shown in order); the first one that does not
    // ends the input. finishing_deadline bounds how long a stream may take to give them (ns on Source::clock()).
    std::int64_t max_pts = AV_NOPTS_VALUE;
    bool finishing = false;
    std::int64_t finishing_deadline_ns = 0;
    std::string ended_early;  // see Source::ended_early
    bool stamp_by_arrival = false;  // this connection's timestamps are not trustworthy: media time is arrival time
    std::optional<TimePoint> arrival_origin;  // the first packet stamped by arrival
    double video_duration = 0;  // seconds the file says its video lasts; 0 when it does not say

    // At the end of a file: a file cut short (a copy or download interrupted, a recording killed) ends well before the
    // duration its header states. Allowed slack: half a second or three frames.
    void check_complete() {
        if (video_duration <= 0 || last_ts == AV_NOPTS_VALUE) return;
        const double frame = probe.fps > 0 ? 1.0 / probe.fps : 0.04;
        const double reached = seconds_of(last_ts - base_start, base_time_base) + frame;
        if (reached + std::max(0.5, 3 * frame) < video_duration)
            ended_early = fmt::format("the file is cut short: its video ends at {:.2f} s of the {:.2f} s it states",
                                      reached, video_duration);
    }

    std::int64_t to_base(std::int64_t ts, const AVStream& stream) const {
        if (ts == AV_NOPTS_VALUE) return AV_NOPTS_VALUE;
        return av_rescale_q(ts - start_pts, stream.time_base, base_time_base) + base_start + offset;
    }

    // An audio packet waits for the next video packet to ride on, its timestamps in its own time base on the video's
    // timeline (shifted as to_base() shifts the video's).
    void keep_audio_packet(const AVPacket& in) {
        const AVStream& audio = *container->streams[audio_index];
        const AVStream& video = *container->streams[stream_index];
        const std::int64_t shift = av_rescale_q(base_start + offset, base_time_base, audio.time_base) -
                                   av_rescale_q(start_pts, video.time_base, audio.time_base);
        if (audio_waiting.size() >= kMaxAudioWaiting) {
            if (!warned_audio)
                spdlog::warn("'{}': more than {} audio packets without a video packet; the oldest are not kept",
                             VideoSource::redacted(options.path), kMaxAudioWaiting);
            warned_audio = true;
            audio_waiting.erase(audio_waiting.begin());
        }
        Packet& p = audio_waiting.emplace_back();
        p.bytes.assign(in.data, in.data + in.size);
        p.pts = in.pts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : in.pts + shift;
        p.dts = in.dts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : in.dts + shift;
        p.duration = in.duration;
        p.key = (in.flags & AV_PKT_FLAG_KEY) != 0;
        p.stream = stream ? stream->audio : nullptr;
    }
};

namespace {
constexpr auto npos = std::string::npos;

// Where a URL's authority starts: after "scheme://", the scheme being a letter and then letters, digits, '+', '-' or
// '.' (RFC 3986); npos when `text` has no scheme.
std::size_t authority_start(const std::string& text) {
    const std::size_t separator = text.find("://");
    if (separator == npos || separator == 0 || std::isalpha(static_cast<unsigned char>(text[0])) == 0) return npos;
    for (std::size_t i = 1; i < separator; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (std::isalnum(c) == 0 && c != '+' && c != '-' && c != '.') return npos;
    }
    return separator + 3;
}

// Where a URL's user info ends: the last '@' before the path, query or fragment (FFmpeg splits there too, so a password
// may itself hold '@'); npos when there is none.
std::size_t user_info_end(const std::string& url, std::size_t authority_start) {
    const std::size_t authority_end = std::min(url.find_first_of("/?#", authority_start), url.size());
    if (authority_end == authority_start) return npos;
    const std::size_t at = url.rfind('@', authority_end - 1);
    return at == npos || at < authority_start ? npos : at;
}

// Query parameter names that carry credentials: any name containing one of these, in any case (over-hiding is the
// safe side).
bool is_secret_name(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    static constexpr std::string_view secrets[] = {"pass", "pwd", "secret", "token", "key", "auth", "sig",
                                                   "credential", "session", "cookie", "ticket"};
    return std::any_of(std::begin(secrets), std::end(secrets),
                       [&](std::string_view secret) { return name.find(secret) != npos; });
}
}  // namespace

VideoSource::Kind VideoSource::kind_of(const std::string& path) {
    if (authority_start(path) != npos) return Kind::stream;
    if (path.rfind("/dev/video", 0) == 0 || path.rfind("/dev/v4l/", 0) == 0) return Kind::camera;
    return Kind::file;
}

std::string VideoSource::redacted(const std::string& url) {
    const std::size_t start = authority_start(url);
    if (start == npos) return url;
    std::string out = url;
    const std::size_t at = user_info_end(url, start);
    const std::size_t colon = url.find(':', start);
    if (at != npos && colon < at) out = url.substr(0, colon + 1) + "***" + url.substr(at);  // user:password@
    const std::size_t query = out.find('?', start);
    if (query == npos) return out;
    const std::size_t fragment = std::min(out.find('#', query), out.size());
    std::string redacted_query;
    std::size_t from = query + 1;
    while (from <= fragment) {
        const std::size_t to = std::min(out.find_first_of("&;", from), fragment);
        std::string parameter = out.substr(from, to - from);
        const std::size_t equals = parameter.find('=');
        if (equals != npos && is_secret_name(parameter.substr(0, equals))) parameter = parameter.substr(0, equals + 1) + "***";
        redacted_query += parameter;
        if (to < fragment) redacted_query += out[to];
        from = to + 1;
    }
    return out.substr(0, query + 1) + redacted_query + out.substr(fragment);
}

std::string media::stream_name(const std::string& url) {
    const std::size_t authority = authority_start(url);
    const std::size_t start = authority == npos ? 0 : authority;
    const std::size_t at = user_info_end(url, start);
    const std::size_t from = at == npos ? start : at + 1;
    const std::size_t to = std::min(url.find_first_of("?#", from), url.size());  // no query: it may hold tokens
    std::string name = url.substr(from, to - from);
    while (!name.empty() && name.back() == '/') name.pop_back();
    for (char& c : name) {
        if (c == '/' || c == '[' || c == ']' || c == '%') c = '_';
        else if (c == ':' || c == '.') c = '-';  // no dots: file names are cut at the last one
    }
    return name.empty() ? VideoSource::redacted(url) : name;
}


VideoSource::VideoSource(Options options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->kind = kind_of(impl_->options.path);
}

VideoSource::~VideoSource() = default;

VideoSource::Probe VideoSource::probe(const std::string& path) {
    Options options;
    options.path = path;
    const Kind kind = kind_of(path);
    Interrupt interrupt;
    int index = -1;
    std::unique_ptr<PollingInput> polling;
    FormatContextPtr container = open_input(options, kind, &interrupt, index, polling);
    return probe_of(*container, index);
}

SourceInfo VideoSource::open(std::stop_token stop) {
    Impl& impl = *impl_;
    const std::string& path = impl.options.path;
    if (impl.options.decode_threads < 0 || impl.options.decode_threads > 16)
        throw ConfigError(fmt::format("decode_threads must be between 0 (automatic) and 16, got {}",
                                      impl.options.decode_threads));
    if (impl.options.max_pixels < 1)
        throw ConfigError(fmt::format("max_pixels must be at least 1, got {}", impl.options.max_pixels));
    const bool network = impl.kind != Kind::file;
    SourceInfo info;
    info.name = !impl.options.name.empty()          ? impl.options.name
                : impl.kind == Kind::file          ? std::filesystem::path(path).filename().string()
                : impl.kind == Kind::stream        ? media::stream_name(path)
                                                    : path;
    info.path = VideoSource::redacted(path);
    info.live = impl.options.realtime || network;
    info.supervised = network && impl.options.reconnect.value_or(true);
    info.backoff_max = impl.options.backoff_max;

    impl.interrupt.clock = &clock();
    impl.interrupt.stop = stop;
    impl.container.reset();
    try {
        impl.container = open_input(impl.options, impl.kind, &impl.interrupt, impl.stream_index, impl.polling);
    } catch (const ConfigError&) {
        throw;
    } catch (const Error& e) {  // a camera or stream that does not answer: the engine keeps trying if supervised
        if (info.supervised && !stop.stop_requested()) throw SourceUnavailable(e.what(), info);
        throw;
    }
    impl.probe = probe_of(*impl.container, impl.stream_index);
    if (std::int64_t{impl.probe.width} * impl.probe.height > impl.options.max_pixels) {
        impl.container.reset();
        throw ConfigError(fmt::format("'{}' is {}x{}, more pixels than max_pixels ({}); raise source.max_pixels to "
                                      "read it",
                                      info.path, impl.probe.width, impl.probe.height, impl.options.max_pixels));
    }
    {
        const AVStream& video = *impl.container->streams[impl.stream_index];
        impl.video_duration = video.duration != AV_NOPTS_VALUE && video.duration > 0
                                  ? seconds_of(video.duration, video.time_base)
                              : impl.container->nb_streams == 1 ? impl.probe.duration  // no other stream to outlast it
                                                                 : 0;
    }
    const AVStream& stream = *impl.container->streams[impl.stream_index];
    impl.start_pts = stream.start_time != AV_NOPTS_VALUE ? stream.start_time : 0;
    impl.packet.reset(av_packet_alloc());
    impl.media_start = -1;
    // Live inputs whose demuxer has no timestamps of its own (MJPEG over HTTP, raw elementary streams) would get
    // FFmpeg's guess of 25 frames a second, whatever their real rate: their packets are stamped by arrival instead.
    const AVInputFormat& demuxer = *impl.container->iformat;
    const std::string demuxer_name = demuxer.name != nullptr ? demuxer.name : "";
    impl.stamp_by_arrival = network && ((demuxer.flags & AVFMT_NOTIMESTAMPS) != 0 || demuxer_name == "h264" ||
                                        demuxer_name == "hevc" || demuxer_name == "m4v" ||
                                        demuxer_name == "mpegvideo" || demuxer_name == "rawvideo");
    if (!impl.opened_once && impl.stamp_by_arrival) {
        impl.base_time_base = {1, 1'000'000};
        impl.base_start = 0;
        impl.step = 1;
    } else if (!impl.opened_once) {
        impl.base_time_base = stream.time_base;
        impl.base_start = impl.start_pts;
        const AVRational rate = av_guess_frame_rate(impl.container.get(), const_cast<AVStream*>(&stream), nullptr);
        impl.step = rate.num > 0 ? std::max<std::int64_t>(av_rescale_q(1, av_inv_q(rate), stream.time_base), 1) : 1;
    } else if (impl.last_ts != AV_NOPTS_VALUE) {
        impl.offset = impl.last_ts + impl.step - impl.base_start;  // a reopened stream continues after the last frame
    }
    impl.opened_once = true;
    // The video stream is read, and its audio when a branch takes packets: tell the demuxer to skip the rest. Inputs
    // stamped by arrival have no timeline to place audio on.
    impl.audio_index = impl.keep_audio && !impl.stamp_by_arrival
                           ? av_find_best_stream(impl.container.get(), AVMEDIA_TYPE_AUDIO, -1, impl.stream_index,
                                                 nullptr, 0)
                           : -1;
    if (impl.audio_index < 0) impl.audio_index = -1;
    impl.audio_waiting.clear();
    for (unsigned i = 0; i < impl.container->nb_streams; ++i)
        if (static_cast<int>(i) != impl.stream_index && static_cast<int>(i) != impl.audio_index)
            impl.container->streams[i]->discard = AVDISCARD_ALL;
    // What the decoder needs for this connection's packets (it reopens itself if a reconnect brings other ones).
    auto parameters = std::make_shared<StreamParameters>();
    parameters->codec.reset(avcodec_parameters_alloc());
    avcodec_parameters_copy(parameters->codec.get(), stream.codecpar);
    parameters->time_base = impl.base_time_base;  // every connection's timestamps are in the first one's base
    parameters->start_pts = impl.base_start;
    parameters->frame_ticks = impl.step;
    parameters->intra_only = impl.probe.intra_only;
    parameters->quarter_turns = impl.options.autorotate ? quarter_turns_of(stream) : 0;
    parameters->max_pixels = impl.options.max_pixels;
    if (impl.audio_index >= 0) {
        const AVStream& audio_stream = *impl.container->streams[impl.audio_index];
        auto audio = std::make_shared<StreamParameters>();
        audio->codec.reset(avcodec_parameters_alloc());
        avcodec_parameters_copy(audio->codec.get(), audio_stream.codecpar);
        audio->time_base = audio_stream.time_base;
        parameters->audio = std::move(audio);
    }
    impl.stream = std::move(parameters);

    info.fps = impl.probe.fps;
    info.size = impl.stream->quarter_turns % 2 == 1 ? cv::Size(impl.probe.height, impl.probe.width)
                                                     : cv::Size(impl.probe.width, impl.probe.height);
    if (!network) {
        info.duration = impl.probe.duration;
        if (impl.probe.frame_count) {
            info.frame_count = impl.probe.frame_count;
        } else if (impl.probe.duration > 0 && impl.probe.fps > 0) {
            info.frame_count = static_cast<std::int64_t>(impl.probe.duration * impl.probe.fps + 0.5);
            info.frame_count_estimated = true;
        }
    }
    return info;
}

ReadResult VideoSource::read(Frame& frame, std::stop_token stop) {
    Impl& impl = *impl_;
    AVPacket* packet = impl.packet.get();
    const bool network = impl.kind != Kind::file;
    constexpr auto kFinishingLimit = std::chrono::milliseconds(500);  // a stream's share of a stop
    const Clock& clock = this->clock();
    if (stop.stop_requested() && !impl.finishing) {
        // Stop: finish the pictures already delivered (see Impl::max_pts), without pacing and within a bound.
        impl.finishing = true;
        impl.finishing_deadline_ns = (clock.now() + kFinishingLimit).time_since_epoch().count();
        if (impl.max_pts == AV_NOPTS_VALUE) return ReadResult::end_of_stream;
    }
    impl.interrupt.stop = impl.finishing ? std::stop_token{} : stop;  // finishing reads are bounded by the deadline
    // One deadline for the whole call, not per packet read: audio that keeps coming must not hide video that stopped.
    const TimePoint video_due = clock.now() + impl.options.read_timeout;
    for (;;) {
        if (impl.finishing)
            impl.interrupt.arm(std::chrono::nanoseconds(std::max<std::int64_t>(
                impl.finishing_deadline_ns - clock.now().time_since_epoch().count(), 0)));
        else if (network)
            impl.interrupt.arm(std::max(Duration::zero(), video_due - clock.now()));
        const int ret = av_read_frame(impl.container.get(), packet);
        impl.interrupt.disarm();
        if (ret < 0 && (stop.stop_requested() || impl.finishing)) return ReadResult::end_of_stream;
        if (ret == AVERROR_EOF && !network) {
            impl.check_complete();
            return ReadResult::end_of_stream;
        }
        if (ret < 0) {
            if (network) {  // the supervisor decides what happens next
                if (impl.interrupt.expired() || ret == AVERROR_EXIT)
                    throw Error(fmt::format("no data for {} s",
                                            in_seconds(impl.options.read_timeout)));
                throw Error(ret == AVERROR_EOF ? std::string("the stream ended") : av_error_text(ret));
            }
            impl.ended_early = fmt::format("read error after {} packets: {}", impl.packets, av_error_text(ret));
            return ReadResult::end_of_stream;
        }
        if (packet->stream_index == impl.stream_index) break;
        if (packet->stream_index == impl.audio_index) impl.keep_audio_packet(*packet);
        av_packet_unref(packet);
    }
    ++impl.packets;
    const AVStream& stream = *impl.container->streams[impl.stream_index];
    frame.encoded.assign(packet->data, packet->data + packet->size);
    frame.format = PixelFormat::encoded;
    if (!impl.audio_waiting.empty()) {
        std::vector<Packet>& audio = frame.attach<AudioPackets>().packets;
        audio.swap(impl.audio_waiting);
        impl.audio_waiting.clear();
    }
    picture_slot(frame).stream = impl.stream;
    frame.key = (packet->flags & AV_PKT_FLAG_KEY) != 0;
    frame.pts = impl.to_base(packet->pts, stream);
    frame.dts = impl.to_base(packet->dts, stream);
    if (impl.stamp_by_arrival) {
        const TimePoint now = clock.now();
        if (!impl.arrival_origin) impl.arrival_origin = now;
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - *impl.arrival_origin).count();
        std::int64_t ts = impl.base_start + av_rescale_q(us, {1, 1'000'000}, impl.base_time_base);
        if (impl.last_ts != AV_NOPTS_VALUE && ts <= impl.last_ts) ts = impl.last_ts + 1;  // strictly increasing
        frame.pts = frame.dts = ts;
    } else if (network && frame.pts == AV_NOPTS_VALUE && frame.dts == AV_NOPTS_VALUE) {
        // A live packet without timestamps (RTSP's first one, before RTP timing is known) follows the one before it,
        // so media time never jumps back to zero, also not after a reconnect. (Files keep what libavcodec infers.)
        frame.pts = frame.dts = impl.last_ts == AV_NOPTS_VALUE ? impl.base_start + impl.offset : impl.last_ts + impl.step;
    }
    // While finishing, a packet that presents after everything delivered is not needed: it ends the input unread.
    const auto not_needed = [&] { return frame.pts == AV_NOPTS_VALUE || frame.pts >= impl.max_pts; };
    if (impl.finishing && not_needed()) {
        av_packet_unref(packet);
        return ReadResult::end_of_stream;
    }
    const std::int64_t ts = frame.pts != AV_NOPTS_VALUE ? frame.pts : frame.dts;
    const double media_seconds = ts == AV_NOPTS_VALUE ? 0.0 : seconds_of(ts - impl.base_start, impl.base_time_base);
    frame.media_time = duration_from_seconds(media_seconds);
    if (ts != AV_NOPTS_VALUE && (impl.last_ts == AV_NOPTS_VALUE || ts > impl.last_ts)) impl.last_ts = ts;
    if (impl.options.realtime && !network && !impl.finishing) {
        // Release packets at the file's own pace, by decode timestamp (monotonic in file order).
        const std::int64_t pace_ts = packet->dts != AV_NOPTS_VALUE ? packet->dts : ts;
        const double pace = pace_ts == AV_NOPTS_VALUE ? 0.0 : seconds_of(pace_ts - impl.start_pts, stream.time_base);
        if (impl.media_start < 0) {
            impl.media_start = pace;
            impl.wall_start = clock.now();
        }
        const TimePoint due = impl.wall_start + duration_from_seconds(pace - impl.media_start);
        if (!clock.sleep_until(due, stop)) {  // stopped before this packet's time came: deliver it only if it is needed
            impl.finishing = true;
            impl.finishing_deadline_ns = (clock.now() + kFinishingLimit).time_since_epoch().count();
            if (impl.max_pts == AV_NOPTS_VALUE || not_needed()) {
                av_packet_unref(packet);
                return ReadResult::end_of_stream;
            }
        }
    }
    if (frame.pts != AV_NOPTS_VALUE && (impl.max_pts == AV_NOPTS_VALUE || frame.pts > impl.max_pts))
        impl.max_pts = frame.pts;
    av_packet_unref(packet);
    return ReadResult::frame;
}

std::string VideoSource::ended_early() const { return impl_->ended_early; }

void VideoSource::keep_audio(bool keep) { impl_->keep_audio = keep; }
void VideoSource::decode_alongside(std::size_t inputs) { impl_->inputs_decoding = std::max<std::size_t>(inputs, 1); }

void VideoSource::close() {
    impl_->packet.reset();
    impl_->container.reset();
    impl_->polling.reset();
}

std::vector<std::unique_ptr<Stage>> VideoSource::decode_stages() {
    const Impl& impl = *impl_;
    // A source that has not opened yet (SourceUnavailable) decodes in order: it cannot know the codec before it answers.
    const bool intra_only = impl.stream && impl.stream->intra_only;
    // Automatic: a file decodes with frame threads, one more than its share of the processors (FFmpeg's own automatic
    // count for one input: a thread that waits for the picture another is still decoding leaves its processor to the
    // extra one), at most 8. The share is the processors divided among the inputs decoding at once (at least one):
    // two 720p inputs on 2 processors with 3 threads each decoded 8% slower than with 2 (perf/README.md), and with
    // the extra thread the last input of a batch, or a single one, still keeps every processor busy. A live input
    // decodes on the graph alone, a frame thread's delay of a picture per thread being latency.
    const bool live = impl.options.realtime || impl.kind != Kind::file;
    const std::size_t processors = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t share = std::max<std::size_t>(1, processors / impl.inputs_decoding);
    const int threads = impl.options.decode_threads != 0 ? impl.options.decode_threads
                        : live                            ? 1
                        : processors == 1                 ? 1
                                                          : static_cast<int>(std::min<std::size_t>(share + 1, 8));
    std::vector<std::unique_ptr<Stage>> stages;
    stages.push_back(
        make_decode_stage(intra_only, threads, VideoSource::redacted(impl.options.path), impl.options.keyframes_only));
    stages.push_back(make_convert_stage());
    return stages;
}

}  // namespace framepipe

// ---- declaration ----------------------------------------------------------------------------------------------------

namespace framepipe {
namespace {

// "camera:N" names the V4L2 camera /dev/videoN; anything else is a path or URL as given.
std::string camera_device_for(const std::string& input) {
    if (input.rfind("camera:", 0) != 0) return input;
    const std::string index = input.substr(7);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos)
        throw ConfigError(fmt::format("input '{}': a camera is camera:N (N = 0, 1, ...) or a device path such as "
                                      "/dev/video0; 'framepipe devices' lists them",
                                      input));
    return "/dev/video" + index;
}

std::unique_ptr<Source> make_video_source(const SourceInput& input, const OptionValues& o) {
    VideoSource::Options s;
    s.path = camera_device_for(input.path);
    s.name = input.name;
    s.realtime = o.boolean("realtime");
    s.decode_threads = static_cast<int>(o.integer("decode_threads"));
    s.keyframes_only = o.text("decode") == "keyframes";
    s.autorotate = o.boolean("autorotate");
    s.max_pixels = o.integer("max_pixels");
    s.open_timeout = o.duration("open_timeout");
    s.read_timeout = o.duration("read_timeout");
    if (o.has("reconnect")) s.reconnect = o.boolean("reconnect");
    s.backoff_max = o.duration("backoff_max");
    if (o.has("video_size")) s.video_size = o.text("video_size");
    if (o.has("framerate")) s.framerate = o.at("framerate").text;
    if (o.has("input_format")) s.input_format = o.text("input_format");
    if (o.has("rtsp_transport")) s.ffmpeg_options["rtsp_transport"] = o.text("rtsp_transport");
    return std::make_unique<VideoSource>(s);
}

using K = OptionKind;
const bool video_source_declared = declare_source({
    .type = "video",
    .summary = "A video file, stream URL (rtsp://, http://, ...) or camera:N, in any container and codec FFmpeg reads "
               "(the default for files and every URL)",
    .example = "framepipe run p.yaml clip.mp4 'rtsp://10.0.0.7/cam?channel=1' camera:0",
    .runs_on = "source thread + decode and convert stages",
    .options = {{"realtime", K::boolean, "false", "Replay at the file's own rate, as a live camera"},
                {"decode_threads", K::integer, "0",
                 "libavcodec threads for inter-frame codecs; 0: for files, one more than the processors divided "
                 "among the inputs decoding at once (at most 8), for live input 1",
                 0, 16},
                {"decode", K::choice, "all",
                 "keyframes: decode only keyframes (a picture a second or so, for motion) while `from: packets` "
                 "branches still get every packet",
                 std::nullopt, std::nullopt, {"all", "keyframes"}},
                {"autorotate", K::boolean, "true",
                 "Turn pictures upright as the file's display rotation says (false: keep the coded orientation)"},
                {"max_pixels", K::integer, "100000000", "Reject pictures with more pixels, undecoded", 1, 1e12},
                {"open_timeout", K::duration, "10s", "Streams and cameras: give up opening after this", 0.1, 3600},
                {"read_timeout", K::duration, "5s",
                 "Streams and cameras: no frame for this long = source lost (then reopened)", 0.1, 3600},
                {"reconnect", K::boolean, "",
                 "Reopen a lost source with exponential backoff (default: on for streams and cameras)"},
                {"backoff_max", K::duration, "30s", "Longest wait between reopening attempts", 0.1, 3600},
                {"video_size", K::text, "", "Cameras: size to ask for, e.g. 1280x720"},
                {"framerate", K::number, "", "Cameras: frame rate to ask for", 1, 1000},
                {"input_format", K::text, "",
                 "Cameras: pixel format to ask for (mjpeg, yuyv422, ...); default: MJPEG if offered"},
                {"rtsp_transport", K::choice, "", "RTSP: tcp (default of framepipe) or udp", std::nullopt, std::nullopt,
                 {"tcp", "udp"}}},
    // Every URL, whatever its path or query holds ('?', '*', '[', .jpg): a URL is no pattern or folder. And anything
    // no other type claims: a file, a device, camera:N.
    .claims = [](const std::string& input) {
        return VideoSource::kind_of(input) == VideoSource::Kind::stream ? 100 : 1;
    },
    .make = make_video_source,
    .list_order = 100,
});

}  // namespace
}  // namespace framepipe
