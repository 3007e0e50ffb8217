// Continuous recording in segments that survive a crash.
//
// Each segment covers `segment` of media time and is written under "<name>.part.<ext>", renamed to "<name>.<ext>" when
// it closes, so a closed segment is always complete and playable; a kill loses at most the open one (and MKV, MPEG-TS
// and fragmented MP4 keep even that readable up to the last flush). Names carry the wall-clock start time; a restart
// into the same folder never overwrites (a clash gets a suffix) and recovers a leftover .part file. Retention deletes the
// oldest closed segments beyond an age, a total size or a count, never the open one. A full disk either stops the
// recording with a clear error (on_full_disk: stop) or deletes the oldest segment and carries on (rotate).
#include "../media/video_encoder.hpp"
#include "catalog_parts.hpp"
#include "stage_support.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>
#include <framepipe/sources/image_source.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>

namespace framepipe::stages {
namespace {

namespace fs = std::filesystem;

class Record final : public Stage {
public:
    Record(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true}),
          dir_(o.text("dir")),
          segment_(o.duration("segment")),
          container_(o.text("container")),
          keep_for_(o.has("keep_for") ? std::optional<Duration>(o.duration("keep_for")) : std::nullopt),
          max_total_bytes_(static_cast<std::int64_t>(o.number("max_total_mb") * 1024 * 1024)),
          max_segments_(o.integer("max_segments")),
          rotate_on_full_(o.text("on_full_disk") == "rotate"),
          fps_(o.number("fps")) {
        if (segment_ <= Duration::zero()) throw ConfigError("record: segment must be longer than 0");
        options_.codec = o.text("codec");
        options_.crf = static_cast<int>(o.integer("crf"));
        options_.preset = o.text("preset");
        options_.fragmented = container_ == "mp4";
        media::VideoEncoder check((fs::path(dir_) / ("check." + container_)).string(), options_);  // codec, container
    }

    void open(const StageContext& context) override {
        input_ = stem_of(context.source.name);  // stream names carry no '/', ':' or query (VideoSource::stream_name)
        options_.fps = fps_ > 0 ? fps_ : context.source.fps > 0 ? context.source.fps : 25.0;
        options_.gop = static_cast<int>(std::max(1.0, options_.fps));  // a key frame a second
        std::error_code ec;
        fs::create_directories(dir_, ec);
        if (ec) throw ConfigError(fmt::format("record: cannot create the folder '{}': {}", dir_, ec.message()));
        recover_partial_segments();
        apply_retention();
    }

    Outcome process(Frame& frame) override {
        require_pixels(frame, "record");
        if (!encoder_ || frame.media_time >= segment_start_ + segment_) {
            if (encoder_) close_segment();
            open_segment(frame.media_time);
        }
        try {
            encoder_->write(frame.image);
        } catch (const Error& e) {
            handle_write_failure(e);
            return Outcome::drop;
        }
        ++frames_in_segment_;
        return Outcome::pass;
    }

    void close() override {
        if (encoder_) close_segment();
        spdlog::info("{}: {}: {} segment(s) written to {}", input_, traits().name, segments_written_, dir_);
    }

private:
    // Segments of this input in the folder, oldest first: "<input>_<start>.<ext>" (the open one is a .part file).
    std::vector<fs::path> closed_segments() const {
        std::vector<fs::path> found;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir_, ec)) {
            const std::string file = entry.path().filename().string();
            if (entry.path().extension() != "." + container_ || file.rfind(input_ + "_", 0) != 0 ||
                file.find(".part.") != std::string::npos)
                continue;
            found.push_back(entry.path());
        }
        // The start time in the name sorts by age; same-second segments carry -2, -3 ... after the stem.
        std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
            return ImageSource::natural_less(a.stem().string(), b.stem().string());
        });
        return found;
    }

    void recover_partial_segments() {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir_, ec)) {
            const std::string file = entry.path().filename().string();
            const std::string marker = ".part." + container_;
            if (file.rfind(input_ + "_", 0) != 0 || file.size() <= marker.size() ||
                file.compare(file.size() - marker.size(), marker.size(), marker) != 0)
                continue;
            const fs::path target = unique_path(file.substr(0, file.size() - marker.size()) + "-recovered");
            fs::rename(entry.path(), target, ec);
            spdlog::warn("{}: {}: recovered the segment a previous run left open: {}", input_, traits().name,
                         target.string());
        }
    }

    fs::path unique_path(const std::string& base) const {
        fs::path path = fs::path(dir_) / (base + "." + container_);
        for (int n = 2; fs::exists(path) || fs::exists(part_of(path)); ++n)
            path = fs::path(dir_) / fmt::format("{}-{}.{}", base, n, container_);
        return path;
    }
    fs::path part_of(const fs::path& path) const {
        return path.parent_path() / (path.stem().string() + ".part." + container_);
    }

    void open_segment(Duration media_start) {
        // Segment boundaries fall on multiples of the segment length of media time.
        segment_start_ = media_start - Duration{media_start.count() % segment_.count()};
        final_path_ = unique_path(fmt::format("{}_{}", input_, file_clock(std::chrono::system_clock::now())));
        encoder_ = std::make_unique<media::VideoEncoder>(part_of(final_path_).string(), options_);
        frames_in_segment_ = 0;
    }

    void close_segment() {
        std::unique_ptr<media::VideoEncoder> encoder = std::move(encoder_);
        try {
            encoder->finish();
        } catch (const Error& e) {
            handle_write_failure(e);
            return;
        }
        std::error_code ec;
        if (encoder->frames_written() == 0) {
            fs::remove(part_of(final_path_), ec);
            return;
        }
        fs::rename(part_of(final_path_), final_path_, ec);
        if (ec) throw Error(fmt::format("record: cannot close segment '{}': {}", final_path_.string(), ec.message()));
        ++segments_written_;
        apply_retention();
    }

    void apply_retention() {
        std::vector<fs::path> segments = closed_segments();
        std::error_code ec;
        const auto remove_oldest = [&](const char* why) {
            spdlog::info("{}: {}: removed {} ({})", input_, traits().name, segments.front().filename().string(), why);
            fs::remove(segments.front(), ec);
            segments.erase(segments.begin());
        };
        if (keep_for_) {
            const auto now = fs::file_time_type::clock::now();
            while (!segments.empty() && now - fs::last_write_time(segments.front(), ec) > *keep_for_)
                remove_oldest("older than keep_for");
        }
        if (max_segments_ > 0)
            while (static_cast<std::int64_t>(segments.size()) > max_segments_) remove_oldest("more than max_segments");
        if (max_total_bytes_ > 0) {
            const auto total = [&] {
                std::uintmax_t bytes = 0;
                for (const fs::path& p : segments) bytes += fs::file_size(p, ec);
                return bytes;
            };
            while (!segments.empty() && total() > static_cast<std::uintmax_t>(max_total_bytes_))
                remove_oldest("over max_total_mb");
        }
    }

    // A write failed (a full disk, most likely): the open segment is abandoned (its .part file removed, closed segments
    // are untouched); with rotate, the oldest segment goes and recording goes on; otherwise the run ends, saying why.
    void handle_write_failure(const Error& e) {
        encoder_.reset();
        std::error_code ec;
        fs::remove(part_of(final_path_), ec);
        std::vector<fs::path> segments = closed_segments();
        if (rotate_on_full_ && !segments.empty()) {
            spdlog::warn("{}: {}: {}; removed the oldest segment {} to make room", input_, traits().name, e.what(),
                         segments.front().filename().string());
            fs::remove(segments.front(), ec);
            return;  // the next frame opens a new segment
        }
        throw Error(fmt::format("recording stopped: {} (closed segments in '{}' are intact; free some space, or set "
                                "on_full_disk: rotate to delete the oldest segments instead)",
                                e.what(), dir_));
    }

    std::string dir_;
    Duration segment_;
    std::string container_;
    std::optional<Duration> keep_for_;
    std::int64_t max_total_bytes_;
    std::int64_t max_segments_;
    bool rotate_on_full_;
    double fps_;
    media::VideoEncoder::Options options_;
    std::string input_;
    std::unique_ptr<media::VideoEncoder> encoder_;
    fs::path final_path_;
    Duration segment_start_{};
    std::uint64_t frames_in_segment_ = 0;
    std::uint64_t segments_written_ = 0;
};

}  // namespace

void add_recording(std::vector<StageSpec>& catalog) {
    using K = OptionKind;
    catalog.push_back(
        {"record", "Continuous recording in crash-safe segments named by start time, with retention",
         "- { type: record, dir: recordings, segment: 60s, keep_for: 7d }", "serial, dedicated thread",
         {{"dir", K::text, "recordings", "Folder for the segments (created if missing)"},
          {"segment", K::duration, "60s", "Media time per segment", 0.1, 86400},
          {"container", K::choice, "mkv", "mkv, ts or mp4 (fragmented): all stay readable after a kill", std::nullopt,
           std::nullopt, {"mkv", "ts", "mp4"}},
          {"codec", K::text, "h264", "Video codec (see write_video)"},
          {"crf", K::integer, "26", "Quality (lower is better, bigger)", -1, 63},
          {"preset", K::text, "veryfast", "x264/x265 speed preset"},
          {"fps", K::number, "0", "Frame rate of the files; 0 = the source's", 0, 1000},
          {"keep_for", K::duration, "", "Delete closed segments older than this (e.g. 7d is 168h)", 1, 1e9},
          {"max_total_mb", K::number, "0", "Delete the oldest closed segments beyond this total size; 0 = no limit",
           0, 1e9},
          {"max_segments", K::integer, "0", "Keep at most this many closed segments; 0 = no limit", 0, 1e9},
          {"on_full_disk", K::choice, "stop", "stop: end with a clear error; rotate: delete the oldest and go on",
           std::nullopt, std::nullopt, {"stop", "rotate"}}},
         factory_of<Record>()});
}

}  // namespace framepipe::stages
