// Outputs other programs read while the run goes on:
//
// stream_out: the source's compressed packets, untouched (behind `from: packets`), as MPEG-TS to standard output
//   (`framepipe run ... | ffplay -`) or to a URL (udp://127.0.0.1:5000), or as HLS a browser plays (a playlist ending
//   in .m3u8 and its segments, cut on keyframes near hls_time; old segments are deleted, each is written under a
//   temporary name and renamed, so a player never reads a half-written one). Packets are flushed as they come. A file
//   path may hold {input} (the input's name), so each input of a pipeline gets its own: live/{input}.m3u8; a
//   live_view stage given the same path (its hls option) serves the playlist to browsers.
//
// y4m: decoded frames as raw video, YUV4MPEG2 (4:2:0), to standard output or a file: what ffplay, ffmpeg, x264 and a
//   Python script reading a pipe take without any library. The first frame fixes the size; later frames of another
//   size are scaled to it.
//
// When their reader goes away (a broken pipe) the output stops (StageHealth::output_stopped, later frames counted as
// unwritten) and the run goes on: closing a preview never stops a recording on another branch. Writes to a pipe or a
// URL wait in poll() and give up when the run is aborted, so a reader that stops reading never keeps framepipe from
// stopping. After a gap in the packets (dropped on a live edge) stream_out waits for the next keyframe, and a stream
// that comes back with other parameters (a reconnect with another resolution) starts the output afresh. A run writing
// to standard output prints its summary on stderr.
#include "../media/fd_write.hpp"
#include "../media/packet_writer.hpp"
#include "../media/video_decode.hpp"
#include "../media/video_encoder.hpp"
#include "keyframe_gate.hpp"
#include "stage_support.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <unistd.h>

namespace framepipe::stages {
namespace {

namespace fs = std::filesystem;

// The reader of `to` went away (EPIPE): this output stops, counted and said once; the run and other branches go on.
void stop_for_gone_reader(StageHealth& health, const std::string& input, const std::string& stage,
                          const std::string& to) {
    health.count_unwritten();
    const std::string why = fmt::format("the reader of {} went away", to == "-" ? "standard output" : to);
    spdlog::info("{}: {}: {}; this output stops, the run goes on", input, stage, why);
    health.output_stopped(why);
}

// Whether `to` is a file path (a template), not standard output or a URL.
bool is_file_path(const std::string& to) { return to != "-" && to.find("://") == std::string::npos; }

class StreamOut final : public Stage {
public:
    StreamOut(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true}),
          to_(o.text("to")),
          hls_(o.text("format") == "hls" || (o.text("format") == "auto" && fs::path(to_).extension() == ".m3u8")) {
        options_.format = hls_ ? "hls" : o.text("format") == "auto" ? "" : o.text("format");
        options_.flush_interval = std::chrono::milliseconds(1);  // every packet: readers are waiting for it
        if (hls_)
            options_.muxer_options = {
                {"hls_time", fmt::format("{:.3f}", in_seconds(o.duration("hls_time")))},
                {"hls_list_size", std::to_string(o.integer("hls_list_size"))},
                {"hls_flags", "delete_segments+independent_segments+temp_file+program_date_time"}};
        if (is_file_path(to_)) validate_template(to_, "to");
        Frame probe;
        const std::string path = is_file_path(to_) ? render_template(to_, {"input", probe, 0, true}) : to_;
        set_segment_names(path);
        media::PacketWriter check(path, options_);  // the container exists
    }

    void open(const StageContext& context) override {
        input_ = context.source.name;
        health_ = context.health;
        options_.abort = context.abort;
        if (is_file_path(to_)) {
            Frame probe;
            to_ = render_template(to_, {input_, probe, 0, true, context.clock});
            set_segment_names(to_);
            const fs::path parent = fs::path(to_).parent_path();
            if (!parent.empty()) media::prepare_output_folder(parent.string(), "stream_out");
        }
    }

    Outcome process(Frame& frame) override {
        if (frame.format != PixelFormat::encoded)
            throw ConfigError("stream_out writes the source's compressed packets, and this stage gets pictures: add "
                              "`from: packets` to it (for decoded frames use y4m or write_video)");
        const bool admitted = gate_.admits(frame);  // after a gap, packets wait for a keyframe
        if (ended_ || !admitted) {
            health_->count_unwritten();
            return Outcome::pass;
        }
        const auto* picture = frame.find<media::PictureAttachment>();
        if (picture == nullptr || !picture->stream) throw BadFrame("a packet without its stream's parameters");
        try {
            if (writer_ && !writer_->accepts(*picture->stream)) {  // the stream came back changed: start afresh
                writer_->finish();
                writer_.reset();
            }
            if (!writer_) writer_ = std::make_unique<media::PacketWriter>(to_, options_);
            if (!writer_->write(frame, picture->stream)) health_->count_unwritten();  // before the first keyframe
        } catch (const Error&) {
            if (!writer_ || !writer_->reader_gone()) throw;
            ended_ = true;
            stop_for_gone_reader(*health_, input_, traits().name, to_);
        }
        return Outcome::pass;
    }

    void close() override {
        if (!writer_) return;
        try {
            writer_->finish();
        } catch (const Error&) {
            if (!writer_->reader_gone()) throw;  // nobody left to read the end of the stream: nothing is lost
        }
    }

private:
    /// HLS: segments "<playlist stem>_NNNNNN.ts" beside the playlist (a live_view's hls option serves those names).
    void set_segment_names(const std::string& playlist_path) {
        if (!hls_) return;
        const fs::path playlist(playlist_path);
        std::string pattern = (playlist.parent_path() / playlist.stem()).string();
        for (std::size_t at = pattern.find('%'); at != std::string::npos; at = pattern.find('%', at + 2))
            pattern.insert(at, 1, '%');  // a literal % in the name, not a format
        options_.muxer_options["hls_segment_filename"] = pattern + "_%06d.ts";
    }

    std::string to_;
    bool hls_;
    media::PacketWriter::Options options_;
    std::unique_ptr<media::PacketWriter> writer_;
    std::string input_;
    StageHealth* health_ = nullptr;
    KeyframeGate gate_;
    bool ended_ = false;
};

class Y4m final : public Stage {
public:
    Y4m(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true}), to_(o.text("to")) {}

    void open(const StageContext& context) override {
        input_ = context.source.name;
        health_ = context.health;
        abort_ = context.abort;
        fps_ = context.source.fps > 0 && context.source.fps <= 1000 ? context.source.fps : 25.0;
        if (to_ == "-") {
            fd_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
        } else {
            const fs::path parent = fs::path(to_).parent_path();
            if (!parent.empty()) media::prepare_output_folder(parent.string(), "y4m");
            fd_ = ::open(to_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        }
        if (fd_ < 0)
            throw ConfigError(fmt::format("y4m: cannot open '{}': {}; choose a path you can write to, or - for standard "
                                          "output",
                                          to_, std::strerror(errno)));
        pipe_ = media::may_block(fd_);
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "y4m");
        if (ended_) {
            health_->count_unwritten();
            return Outcome::pass;
        }
        const cv::Mat* bgr = &frame.image;
        if (frame.image.channels() == 1) {
            cv::cvtColor(frame.image, colour_, cv::COLOR_GRAY2BGR);
            bgr = &colour_;
        }
        if (size_.empty()) {
            size_ = cv::Size(bgr->cols & ~1, bgr->rows & ~1);  // 4:2:0 needs even sizes
            // Frame rate as a fraction with 1001 or 1000 below it: 30000/1001, 25000/1000.
            const double ntsc = fps_ * 1001.0;
            const bool drop_frame = std::abs(ntsc - std::round(ntsc / 1000) * 1000) < 1;
            const std::string header =
                drop_frame ? fmt::format("YUV4MPEG2 W{} H{} F{}:1001 Ip A1:1 C420jpeg\n", size_.width, size_.height,
                                         static_cast<long>(std::lround(ntsc)))
                           : fmt::format("YUV4MPEG2 W{} H{} F{}:1000 Ip A1:1 C420jpeg\n", size_.width, size_.height,
                                         static_cast<long>(std::lround(fps_ * 1000)));
            if (!write_all(header.data(), header.size())) return reader_gone_or_throw();
        }
        if (bgr->size() != size_) {
            cv::resize(*bgr, scaled_, size_, 0, 0, cv::INTER_AREA);
            bgr = &scaled_;
        }
        cv::cvtColor(*bgr, yuv_, cv::COLOR_BGR2YUV_I420);
        static constexpr char kFrame[] = "FRAME\n";
        if (!write_all(kFrame, sizeof kFrame - 1) || !write_all(yuv_.data, yuv_.total() * yuv_.elemSize()))
            return reader_gone_or_throw();
        return Outcome::pass;
    }

    void close() override {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    bool write_all(const void* data, std::size_t size) {
        errno = media::write_fully(fd_, data, size, pipe_, abort_);
        return errno == 0;
    }
    Outcome reader_gone_or_throw() {
        if (errno != EPIPE) throw Error(fmt::format("y4m: cannot write to '{}': {}", to_, std::strerror(errno)));
        ended_ = true;
        stop_for_gone_reader(*health_, input_, traits().name, to_);
        return Outcome::pass;
    }

    std::string to_;
    std::string input_;
    StageHealth* health_ = nullptr;
    std::stop_token abort_;
    bool pipe_ = false;  // writes may wait for a reader: they watch abort_
    double fps_ = 25;
    int fd_ = -1;
    cv::Size size_;
    cv::Mat colour_, scaled_, yuv_;
    bool ended_ = false;
};

// Listed after thumbnails (200), before the writers (300): each file's types have a list_order of their own.
const bool stream_outputs_declared = [] {
    using K = OptionKind;
    (void)declare_stage(
        {"stream_out",
         "The source's packets untouched (from: packets) as MPEG-TS to stdout or a URL, or as HLS a browser plays",
         "- { type: stream_out, from: packets, to: live/camera.m3u8 }",
         {.needs_ordered_input = true, .blocking_io = true},
         {{"to", K::text, "-",
           "- (standard output), a URL such as udp://127.0.0.1:5000, or a playlist ending in .m3u8 ({input}: the "
           "input's name, one playlist per input)"},
          {"format", K::choice, "auto", "auto: HLS for .m3u8, MPEG-TS for - and URLs, else from the extension",
           std::nullopt, std::nullopt, {"auto", "mpegts", "hls", "matroska"}},
          {"hls_time", K::duration, "2s", "HLS: target segment length (segments start on keyframes)", 0.1, 60},
          {"hls_list_size", K::integer, "6", "HLS: segments in the playlist (older ones are deleted)", 1, 10000}},
         factory_of<StreamOut>(), 250});
    (void)declare_stage(
        {"y4m", "Decoded frames as raw YUV4MPEG2 video to stdout or a file (| ffplay -, a Python pipe reader)",
         "- { type: y4m, to: \"-\" }", {.needs_ordered_input = true, .blocking_io = true},
         {{"to", K::text, "-", "- (standard output) or a file"}}, factory_of<Y4m>(), 250});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
