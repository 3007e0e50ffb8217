#include "packet_writer.hpp"

#include "muxed_file.hpp"
#include "video_decode.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

namespace framepipe::media {

struct PacketWriter::Impl {
    std::string path;
    Options options;
    const AVOutputFormat* format = nullptr;
    MakeRoom make_room;
    std::unique_ptr<MuxedFile> file;
    AVStream* stream = nullptr;
    AVStream* audio_stream = nullptr;      // the source's audio, when the file's stream had one as it opened
    AVRational source_base{1, 1};
    AVRational audio_base{1, 1};
    PacketPtr packet{av_packet_alloc()};
    std::int64_t origin = AV_NOPTS_VALUE;   // the file's 0: the first packet's decoding time (of either stream)
    std::int64_t last_dts = AV_NOPTS_VALUE;
    std::int64_t audio_origin = AV_NOPTS_VALUE;  // origin in the audio's time base
    std::int64_t last_audio_dts = AV_NOPTS_VALUE;
    std::int64_t step = 1;                  // one frame, in the source's time base
    std::shared_ptr<const StreamParameters> stream_parameters;  // the file's stream
    std::int64_t flush_ticks = 0;           // flush_interval in the source's time base
    std::int64_t flushed_dts = AV_NOPTS_VALUE;
    std::int64_t written = 0, durable = 0;
    bool finished = false;
    bool warned_audio = false;

    template <class Call>
    void on_file(Call call) {
        try {
            call(*file);
        } catch (...) {
            finished = true;
            throw;
        }
    }

    // Opens the file; its 0 is the first video packet's decoding time `first_dts`, or the first audio packet's if that
    // comes earlier (audio read just before a keyframe may start before it).
    void open(const StreamParameters& parameters, std::int64_t first_dts, const std::vector<Packet>& first_audio) {
        // With the camera's sound when the container takes its codec (fragmented MP4 takes no G.711, for one; asking
        // libavformat beforehand is not reliable): else the file is video only, and says so once.
        for (const bool with_audio : {parameters.audio != nullptr, false}) {
            make_file(parameters, with_audio);
            try {
                file->open(options.fragmented, options.muxer_options);
                break;
            } catch (const Error& e) {
                if (!with_audio) {
                    finished = true;
                    throw;
                }
                if (!warned_audio)
                    spdlog::warn("'{}': the container cannot hold the input's {} audio ({}): the file has video only "
                                 "(MKV holds any audio)",
                                 path, avcodec_get_name(parameters.audio->codec->codec_id), e.what());
                warned_audio = true;
            }
        }
        origin = first_dts;
        for (const Packet& a : first_audio) {
            const std::int64_t at = a.dts != AV_NOPTS_VALUE ? a.dts : a.pts;
            if (at == AV_NOPTS_VALUE || !audio_stream) continue;
            const std::int64_t in_video = av_rescale_q_rnd(at, audio_base, source_base, AV_ROUND_DOWN);
            if (origin == AV_NOPTS_VALUE || in_video < origin) origin = in_video;
            break;  // in file order: the first one is the earliest
        }
        if (options.flush_interval > Duration::zero())
            flush_ticks = std::max<std::int64_t>(
                1, av_rescale_q(std::chrono::duration_cast<std::chrono::microseconds>(options.flush_interval).count(),
                                AVRational{1, 1000000}, source_base));
    }

    // The muxer with the video stream and, `with_audio`, the audio stream; not opened yet.
    void make_file(const StreamParameters& parameters, bool with_audio) {
        file = std::make_unique<MuxedFile>(path, format);
        file->on_full_disk(make_room);
        file->interrupt_on(options.abort);
        source_base = parameters.time_base;
        stream = add_stream(parameters);
        audio_stream = nullptr;
        if (!with_audio) return;
        audio_base = parameters.audio->time_base;
        audio_stream = add_stream(*parameters.audio);
    }

    AVStream* add_stream(const StreamParameters& parameters) {
        AVStream* added = avformat_new_stream(file->container(), nullptr);
        if (added == nullptr) on_file([](MuxedFile& f) { f.fail("cannot set up the container", AVERROR(ENOMEM)); });
        const int ret = avcodec_parameters_copy(added->codecpar, parameters.codec.get());
        if (ret < 0) on_file([&](MuxedFile& f) { f.fail("cannot set up the container", ret); });
        added->codecpar->codec_tag = 0;            // the container picks its own tag for the codec
        added->time_base = parameters.time_base;   // a hint: the muxer may choose another
        return added;
    }

    // A packet waiting for a decoding time: demuxers leave it unset on the first packets of a stream with B-frames
    // (Matroska stores none); it is derived from the first packet that has one.
    struct Pending {
        std::vector<std::uint8_t> bytes;
        std::int64_t pts;
        bool key;
        std::vector<Packet> audio;
    };
    std::vector<Pending> pending;
    static constexpr std::size_t kMaxPending = 16;  // beyond this, decoding times follow presentation times

    bool write(const std::uint8_t* data, std::size_t size, std::int64_t frame_pts, std::int64_t frame_dts, bool key,
               const std::shared_ptr<const StreamParameters>& parameters, const std::vector<Packet>& audio) {
        if (!parameters) throw Error(fmt::format("'{}': a packet without its stream's parameters", path));
        if (finished) throw Error(fmt::format("'{}': write after finish", path));
        if (!file) {
            if (!key && pending.empty()) return false;  // a file starts on a keyframe
            if (pending.empty()) {
                step = std::max<std::int64_t>(1, parameters->frame_ticks);
                stream_parameters = parameters;
            }
        }
        const std::int64_t pts = frame_pts != AV_NOPTS_VALUE ? frame_pts : frame_dts;
        if (frame_dts == AV_NOPTS_VALUE && last_dts == AV_NOPTS_VALUE && pending.size() < kMaxPending) {
            pending.push_back({std::vector<std::uint8_t>(data, data + size), pts, key, audio});
            return true;
        }
        const std::int64_t dts = frame_dts;
        // Back-fill: one frame apart, ending a frame before this packet's decoding time (or its presentation time).
        const std::int64_t next = dts != AV_NOPTS_VALUE ? dts : pts;
        const auto waiting = static_cast<std::int64_t>(pending.size());
        if (!file)
            open(*stream_parameters, waiting > 0 && next != AV_NOPTS_VALUE ? next - waiting * step : next,
                 waiting > 0 ? pending.front().audio : audio);
        for (std::int64_t i = 0; i < waiting; ++i) {
            Pending& p = pending[static_cast<std::size_t>(i)];
            mux_audio(p.audio);
            mux(p.bytes.data(), p.bytes.size(), p.pts, next - (waiting - i) * step, p.key);
        }
        pending.clear();
        mux_audio(audio);
        mux(data, size, pts, dts, key);
        return true;
    }

    void mux(const std::uint8_t* data, std::size_t size, std::int64_t pts, std::int64_t dts, bool key) {
        if (dts == AV_NOPTS_VALUE) dts = last_dts == AV_NOPTS_VALUE ? pts : last_dts + step;
        if (pts == AV_NOPTS_VALUE) pts = dts;
        if (last_dts != AV_NOPTS_VALUE && dts <= last_dts) dts = last_dts + 1;  // muxers need increasing times
        pts = std::max(pts, dts);
        last_dts = dts;
        if (origin == AV_NOPTS_VALUE) origin = dts;
        // (duration: MP4 fragments take a sample's duration from it)
        put(*stream, source_base, data, size, pts - origin, dts - origin, step, key);
        ++written;
        // Timed flushes: at the first packet (the file plays from then on), then every flush_interval of media time.
        if (flush_ticks > 0 && (flushed_dts == AV_NOPTS_VALUE || dts - flushed_dts >= flush_ticks)) {
            on_file([](MuxedFile& f) { f.flush(); });
            durable = written;
            flushed_dts = dts;
        }
    }

    // The audio packets that came with a video packet, before it (file order). Skipped when the file has no audio
    // stream (the source had none when it opened) or a packet would start before the file's 0.
    void mux_audio(const std::vector<Packet>& audio) {
        if (audio_stream == nullptr) return;
        for (const Packet& a : audio) {
            std::int64_t dts = a.dts != AV_NOPTS_VALUE ? a.dts : a.pts;
            if (dts == AV_NOPTS_VALUE) continue;
            if (audio_origin == AV_NOPTS_VALUE)
                audio_origin = av_rescale_q_rnd(origin != AV_NOPTS_VALUE ? origin
                                                                         : av_rescale_q(dts, audio_base, source_base),
                                                source_base, audio_base, AV_ROUND_DOWN);
            if (dts < audio_origin) continue;
            if (last_audio_dts != AV_NOPTS_VALUE && dts <= last_audio_dts) dts = last_audio_dts + 1;
            last_audio_dts = dts;
            const std::int64_t pts = a.pts != AV_NOPTS_VALUE ? std::max(a.pts, dts) : dts;
            put(*audio_stream, audio_base, a.bytes.data(), a.bytes.size(), pts - audio_origin, dts - audio_origin,
                a.duration, a.key);
        }
    }

    // One packet into `to`, its timestamps (from the file's 0) in `base`.
    void put(const AVStream& to, AVRational base, const std::uint8_t* data, std::size_t size, std::int64_t pts,
             std::int64_t dts, std::int64_t duration, bool key) {
        int ret = av_new_packet(packet.get(), static_cast<int>(size));
        if (ret < 0) on_file([&](MuxedFile& f) { f.fail("out of memory", ret); });
        if (size > 0) std::memcpy(packet->data, data, size);
        packet->pts = pts;
        packet->dts = dts;
        packet->duration = duration;
        packet->flags = key ? AV_PKT_FLAG_KEY : 0;
        packet->stream_index = to.index;
        av_packet_rescale_ts(packet.get(), base, to.time_base);
        on_file([&](MuxedFile& f) { f.write(*packet); });
        av_packet_unref(packet.get());
    }

    void finish() {
        if (finished) return;
        if (!pending.empty() && !file) {  // a short stream that never gave a decoding time
            std::vector<Pending> left = std::move(pending);
            pending.clear();
            last_dts = AV_NOPTS_VALUE;
            for (Pending& p : left) {
                if (!file) open(*stream_parameters, p.pts, p.audio);
                mux_audio(p.audio);
                mux(p.bytes.data(), p.bytes.size(), p.pts, AV_NOPTS_VALUE, p.key);
            }
        }
        finished = true;
        if (!file) return;
        file->finish();
        durable = written;
    }
};

PacketWriter::PacketWriter(std::string path, Options options) : impl_(std::make_unique<Impl>()) {
    quiet_ffmpeg_logging();
    impl_->path = std::move(path);
    impl_->options = options;
    const bool stream = impl_->path == "-" || impl_->path.find("://") != std::string::npos;
    const std::string format = !impl_->options.format.empty() ? impl_->options.format : stream ? "mpegts" : "";
    impl_->format = av_guess_format(format.empty() ? nullptr : format.c_str(), impl_->path.c_str(), nullptr);
    if (impl_->format == nullptr)
        throw ConfigError(format.empty() ? fmt::format("cannot tell the container from '{}'; end the name in .mkv, "
                                                       ".ts, .mp4 or .m3u8",
                                                       impl_->path)
                                         : fmt::format("this system's FFmpeg has no '{}' muxer", format));
}

PacketWriter::~PacketWriter() {
    try {
        finish();
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
    }
}

void PacketWriter::on_full_disk(MakeRoom make_room) { impl_->make_room = std::move(make_room); }
bool PacketWriter::write(const Frame& packet, const std::shared_ptr<const StreamParameters>& stream) {
    if (packet.format != PixelFormat::encoded)
        throw Error(fmt::format("'{}': stream copy needs compressed packets (`from: packets`), not pictures", impl_->path));
    return impl_->write(packet.encoded.data(), packet.encoded.size(), packet.pts, packet.dts, packet.key, stream,
                        audio_of(packet));
}
bool PacketWriter::write(const Packet& packet) {
    return impl_->write(packet.bytes.data(), packet.bytes.size(), packet.pts, packet.dts, packet.key, packet.stream,
                        packet.audio);
}
void PacketWriter::finish() { impl_->finish(); }
std::int64_t PacketWriter::packets_written() const noexcept { return impl_->written; }
std::int64_t PacketWriter::packets_durable() const noexcept { return impl_->durable; }
bool PacketWriter::accepts(const StreamParameters& stream) const noexcept {
    const StreamParameters* mine = impl_->stream_parameters.get();
    if (mine == nullptr || mine == &stream) return true;
    if (!stream.same_codec(*mine) || !stream.audio != !mine->audio) return false;
    return !stream.audio || stream.audio == mine->audio ||
           (stream.audio->same_codec(*mine->audio) && av_cmp_q(stream.audio->time_base, mine->audio->time_base) == 0);
}
bool PacketWriter::reader_gone() const noexcept { return impl_->file && impl_->file->reader_gone(); }
bool PacketWriter::disk_full() const noexcept { return impl_->file && impl_->file->disk_full(); }

}  // namespace framepipe::media
