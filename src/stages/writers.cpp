// Sinks: image sequences, video files, the null sink and an on-screen window. All pass frames on, so they can sit
// anywhere in a chain; the ones that write run on dedicated threads.
#include "../media/video_encoder.hpp"
#include "partial_files.hpp"
#include "stage_support.hpp"
#include "image_output.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/highgui.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>

namespace framepipe::stages {
namespace {

// Every frame to an image file. JPEG encoding is the expensive part, so several frames are written at once.
class WriteImages final : public Stage {
public:
    WriteImages(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .parallel = true, .blocking_io = true, .read_only = true}), name_template_(o.text("file")) {
        output_.emplace(o.text("dir"), name_template_, static_cast<int>(o.integer("quality")), o.boolean("overwrite"));
    }
    void open(const StageContext& context) override {
        input_ = context.source.name;
        clock_ = context.clock;
        output_->prepare(input_);
    }
    Outcome process(Frame& frame) override {
        require_pixels(frame, "write_images");
        output_->write(frame.image, render_template(name_template_, {input_, frame, frame.sequence, true, clock_}));
        written_.fetch_add(1, std::memory_order_relaxed);
        return Outcome::pass;
    }
    void close() override {
        spdlog::info("{}: {}: wrote {} image(s) to {}{}", input_, traits().name, written_.load(), output_->dir(),
                     output_->renamed() > 0
                         ? fmt::format(" ({} with a -N suffix: their names were taken by other frames)", output_->renamed())
                         : "");
    }

private:
    std::string name_template_;
    std::optional<ImageOutput> output_;
    std::string input_;
    const Clock* clock_ = nullptr;  // calendar time for {clock} and names (StageContext::clock)
    std::atomic<std::uint64_t> written_{0};
};

// Frames, in order, to a video file, with the source's timestamps (or retimed to `fps` when it is set). The folder and
// the file are created in open(), so a path that cannot be written is refused before any frame is read (ConfigError).
// Unless fragmented, the file is written under "<name>.part.<ext>" and renamed when it is finished, so a killed run
// never leaves a half file under the final name. A write failure ends the run (Error) and leaves the .part file.
class WriteVideo final : public Stage {
public:
    WriteVideo(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true}),
          path_template_(o.text("path")),
          overwrite_(o.boolean("overwrite")),
          fps_(o.number("fps")) {
        validate_template(path_template_, "path");
        options_.codec = o.text("codec");
        options_.crf = static_cast<int>(o.integer("crf"));
        options_.preset = o.text("preset");
        options_.bitrate = o.integer("bitrate");
        options_.pixel_format = o.text("pixel_format");
        options_.gop = static_cast<int>(o.integer("gop"));
        options_.fragmented = o.boolean("fragmented");
        // Check codec and container now, so a bad pipeline fails before it starts.
        Frame probe;
        media::VideoEncoder check(render_template(path_template_, {"input", probe, 0, true}), options_);
    }

    void open(const StageContext& context) override {
        input_ = context.source.name;
        health_ = context.health;
        abort_ = context.abort;
        options_.fps = fps_ > 0 ? fps_ : context.source.fps > 0 ? context.source.fps : 25.0;
        Frame probe;
        path_ = render_template(path_template_, {input_, probe, 0, true, context.clock});
        std::error_code ec;
        if (!overwrite_ && std::filesystem::exists(path_, ec))
            throw ConfigError(fmt::format("'{}' already exists; set overwrite: true or choose another path", path_));
        const std::filesystem::path final_path(path_);
        if (options_.fragmented) {
            writing_ = path_;
            media::create_output_file(writing_, "write_video");
        } else {
            part_ = PartFile::claim(final_path, "write_video");
            writing_ = part_.path();
        }
        encoder_ = std::make_unique<media::VideoEncoder>(writing_, options_);
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "write_video");
        try {
            if (fps_ > 0) encoder_->write(frame.image);  // a frame rate of its own: frames retimed at that rate
            else encoder_->write(frame.image, frame.media_time);
        } catch (const Error&) {
            failed_ = true;
            throw;
        }
        return Outcome::pass;
    }

    void close() override {
        if (!encoder_) return;
        std::error_code ec;
        if (failed_) {  // a half file never takes the final name
            if (writing_ != path_)
                spdlog::warn("{}: {}: the unfinished video is left as '{}'", input_, traits().name, writing_);
            return;
        }
        if (encoder_->frames_written() == 0) {  // no frame: no file
            encoder_.reset();
            std::filesystem::remove(writing_, ec);
            return;
        }
        encoder_->finish(abort_);  // an aborted run finalises at once what was written
        if (const std::int64_t lost = encoder_->frames_written() - encoder_->frames_durable(); lost > 0) {
            health_->count_unwritten(static_cast<std::uint64_t>(lost));
            spdlog::warn("{}: {}: the run was aborted: the last {} frame(s) were still in the encoder and are not in "
                         "'{}'",
                         input_, traits().name, lost, path_);
        }
        if (encoder_->frames_durable() == 0) {  // aborted before the encoder gave out a frame: no file, not an empty one
            encoder_.reset();
            std::filesystem::remove(writing_, ec);
            spdlog::warn("{}: {}: no frame reached '{}' before the run was aborted; removed the empty file", input_,
                         traits().name, path_);
            return;
        }
        if (writing_ != path_) {
            std::filesystem::rename(writing_, path_, ec);
            if (ec)
                throw Error(fmt::format("write_video: cannot rename '{}' to '{}': {}; the video is complete under the "
                                        "first name",
                                        writing_, path_, ec.message()));
        }
        spdlog::info("{}: {}: wrote {} frame(s) to {}", input_, traits().name, encoder_->frames_durable(), path_);
    }

private:
    std::string path_template_;
    bool overwrite_;
    double fps_;
    media::VideoEncoder::Options options_;
    std::string input_;
    std::string path_;     // the final name
    std::string writing_;  // the name written while open: path_ itself when fragmented, else its .part name
    PartFile part_;        // not fragmented: the .part file, locked against another process writing the same output
    StageHealth* health_ = nullptr;
    std::stop_token abort_;
    std::unique_ptr<media::VideoEncoder> encoder_;
    bool failed_ = false;  // a write failed: the file stays under its .part name
};

class Null final : public Stage {
public:
    Null(const std::string& name, const OptionValues&) : Stage({.name = name, .parallel = true, .read_only = true}) {}
    Outcome process(Frame&) override { return Outcome::pass; }
};

// Shows frames in a window (needs a display). Closing it with q or Esc ends the input.
class Window final : public Stage {
public:
    Window(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true}), title_(o.has("title") ? o.text("title") : "") {}
    void open(const StageContext& context) override {
        const char* display = std::getenv("DISPLAY");
        const char* wayland = std::getenv("WAYLAND_DISPLAY");
        if ((display == nullptr || *display == '\0') && (wayland == nullptr || *wayland == '\0'))
            throw ConfigError("window: there is no display (DISPLAY is not set); write the frames with write_video or "
                              "write_images instead");
        if (title_.empty()) title_ = context.source.name;
        cv::namedWindow(title_, cv::WINDOW_AUTOSIZE);
    }
    Outcome process(Frame& frame) override {
        require_pixels(frame, "window");
        cv::imshow(title_, frame.image);
        const int key = cv::waitKey(1);
        return key == 'q' || key == 27 ? Outcome::end_of_stream : Outcome::pass;
    }
    void close() override { cv::destroyWindow(title_); }

private:
    std::string title_;
};

// The declarations of this file's stage types (listed after the earlier families).
const bool writers_declared = [] {
    using K = OptionKind;
    (void)declare_stage(
        {"write_images", "Write every frame as an image file (an image sequence)",
         "- { type: write_images, dir: out, file: \"{label}.jpg\" }", {.parallel = true, .blocking_io = true},
         {{"dir", K::text, "frames", "Output folder (created if missing)"},
          {"file", K::text, "{input}_{frame:06}.jpg",
           "File name template; the extension picks the format; a name already written gets -2, -3 ..."},
          {"quality", K::integer, "90", "JPEG/WebP quality", 1, 100},
          {"overwrite", K::boolean, "false",
           "Replace existing files; without it, a folder holding files of this name pattern is refused at start"}},
         factory_of<WriteImages>(), 300});
    (void)declare_stage(
        {"write_video", "Encode the frames, in order, into a video file (container from the extension)",
         "- { type: write_video, path: \"{input}_edges.mp4\", codec: h264 }", {.needs_ordered_input = true, .blocking_io = true},
         {{"path", K::text, "{input}_out.mp4", "Output file template (.mp4, .mkv, .mov, .avi, .webm, .ts)"},
          {"codec", K::text, "h264", "h264, h265, vp9, vp8, mpeg4, mjpeg, ffv1, av1, or an FFmpeg encoder name"},
          {"fps", K::number, "0", "Frame rate of the file (frames retimed to it); 0 = the source's timestamps", 0,
           1000},
          {"crf", K::integer, "23", "Quality for h264/h265/vp9 (lower is better, bigger); -1 = codec default", -1, 63},
          {"preset", K::text, "veryfast", "x264/x265 speed preset (ultrafast ... veryslow)"},
          {"bitrate", K::integer, "0", "Target bits per second instead of crf; 0 = off", 0, 1e10},
          {"pixel_format", K::text, "yuv420p", "Pixel format of the encoded video"},
          {"gop", K::integer, "0", "Key frame every N frames; 0 = codec default", 0, 100000},
          {"fragmented", K::boolean, "false",
           "MP4/MOV: write fragments under the final name, so a killed file stays playable (else: a .part file "
           "renamed when finished)"},
          {"overwrite", K::boolean, "false", "Replace an existing file instead of refusing to start"}},
         factory_of<WriteVideo>(), 300});
    (void)declare_stage({"null", "Accept frames and do nothing (for benchmarks, or when earlier stages did the work)",
                       "- { type: null }", {.parallel = true}, {}, factory_of<Null>(), 300});
    (void)declare_stage({"window", "Show the frames in a window (needs a display); q or Esc ends the input",
                       "- { type: window }", {.needs_ordered_input = true, .blocking_io = true},
                       {{"title", K::text, "", "Window title; default: the input's name"}}, factory_of<Window>(), 300});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
