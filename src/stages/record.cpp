// Continuous recording in segments that survive a crash.
//
// Two ways to write: encode decoded pictures (codec: h264, h265, ...), or, with codec: copy behind `from: packets`,
// write the source's compressed packets untouched (stream copy, as an NVR records a camera: no decoding for the
// recording, no quality lost, a few microseconds per packet). A copied segment starts on a keyframe: a new segment
// opens at the first keyframe past the segment boundary, and after a gap in the packets (dropped on a live edge, a
// reconnect) writing waits for the next keyframe, counting what it skipped as unwritten.
//
// Each segment covers `segment` of media time and is written under "<name>.part.<ext>", renamed to "<name>.<ext>" when
// it closes, so a closed segment is always complete and playable. The open one is flushed to the file every
// `flush_interval` of media time with an encoder that holds no frames back (VideoEncoder low_delay), so a SIGKILL
// loses at most that much of it. Names carry the wall-clock start time; a restart into the same folder never overwrites
// (a clash gets a suffix), renames a leftover .part file that holds a playable frame to "<name>-recovered.<ext>" and
// removes one that holds none. Timestamps are the source's (media_time), gaps included. Retention deletes the oldest
// closed segments beyond an age, a total size or a count, never the open one.
//
// A write that finds the disk full: with on_full_disk: rotate, the oldest closed segments are deleted one at a time
// and the write retried until it succeeds, so nothing is lost while closed segments remain; when none remain, the
// open segment is closed with what reached the file and recording resumes at the next segment boundary. Any other
// failure (on_full_disk: stop, a full disk, an I/O error) closes the open segment the same way and stops the
// recording only (StageHealth::output_stopped): frames still pass on to later stages. Every frame taken but not in a
// file (after the last flush of a failed segment, or while paused or stopped) is counted (StageHealth::count_unwritten).
#include "../media/natural_order.hpp"
#include "../media/video_encoder.hpp"
#include "partial_files.hpp"
#include "keyframe_gate.hpp"
#include "segment_writer.hpp"
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
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true}),
          dir_(o.text("dir")),
          segment_(o.duration("segment")),
          container_(o.text("container")),
          keep_for_(o.has("keep_for") ? std::optional<Duration>(o.duration("keep_for")) : std::nullopt),
          max_total_bytes_(static_cast<std::int64_t>(o.number("max_total_mb") * 1024 * 1024)),
          max_segments_(o.integer("max_segments")),
          rotate_on_full_(o.text("on_full_disk") == "rotate"),
          fps_(o.number("fps")) {
        if (segment_ <= Duration::zero()) throw ConfigError("record: segment must be longer than 0");
        copy_ = o.text("codec") == "copy";
        packet_options_.fragmented = container_ == "mp4";
        packet_options_.flush_interval = o.duration("flush_interval");
        if (copy_) {
            if (fps_ > 0) throw ConfigError("record: codec: copy keeps the source's timing; remove 'fps'");
            media::PacketWriter check((fs::path(dir_) / ("check." + container_)).string(), packet_options_);
            return;
        }
        options_.codec = o.text("codec");
        options_.crf = static_cast<int>(o.integer("crf"));
        options_.preset = o.text("preset");
        options_.fragmented = container_ == "mp4";
        options_.low_delay = true;
        options_.flush_interval = o.duration("flush_interval");
        media::VideoEncoder check((fs::path(dir_) / ("check." + container_)).string(), options_);  // codec, container
    }

    void open(const StageContext& context) override {
        health_ = context.health;
        abort_ = context.abort;
        input_ = stem_of(context.source.name);  // stream names carry no '/', ':' or query (VideoSource::stream_name)
        clock_ = context.clock;
        options_.fps = fps_ > 0 ? fps_ : context.source.fps > 0 ? context.source.fps : 25.0;
        options_.gop = static_cast<int>(std::max(1.0, options_.fps));  // a key frame a second
        media::prepare_output_folder(dir_, "record");
        recover_partial_segments();
        apply_retention();
    }

    Outcome process(Frame& frame) override {
        if (!copy_) require_pixels(frame, "record");
        if (copy_ && frame.format != PixelFormat::encoded)
            throw ConfigError("record with codec: copy writes the source's compressed packets, and this stage gets "
                              "pictures: add `from: packets` to it (or choose a codec such as h264 to encode pictures)");
        if (copy_ && writer_ && !writer_->accepts(frame)) {  // the stream came back changed: a new segment
            close_segment();
            gate_.wait_for_keyframe();
        }
        const bool admitted = !copy_ || gate_.admits(frame);  // after a gap, packets wait for a keyframe
        if (stopped_ || (resume_at_ && frame.media_time < *resume_at_) || !admitted) {
            health_->count_unwritten();
            return Outcome::pass;
        }
        resume_at_.reset();
        // A copied segment can only start on a keyframe: the boundary waits for one.
        const bool at_boundary = frame.media_time >= segment_start_ + segment_ && (!copy_ || frame.key);
        if (!writer_ || at_boundary) {
            if (writer_) close_segment();
            if (stopped_) {
                health_->count_unwritten();
                return Outcome::pass;
            }
            open_segment(frame.media_time);
        }
        ++taken_;
        try {
            if (!writer_->write(frame, fps_ > 0)) {  // a packet before the first keyframe
                --taken_;
                health_->count_unwritten();
            }
        } catch (const BadFrame&) {
            --taken_;
            throw;
        } catch (const Error& e) {
            segment_failed(e);
        }
        return Outcome::pass;
    }

    void close() override {
        if (writer_) close_segment();
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
            return media::natural_less(a.stem().string(), b.stem().string());
        });
        return found;
    }

    void recover_partial_segments() {
        (void)recover_leftovers(dir_, input_, container_, fmt::format("{}: {}", input_, traits().name), "segment");
    }

    fs::path unique_path(const std::string& base) const {
        fs::path path = fs::path(dir_) / (base + "." + container_);
        for (int n = 2; fs::exists(path) || fs::exists(part_of(path)); ++n)
            path = fs::path(dir_) / fmt::format("{}-{}.{}", base, n, container_);
        return path;
    }
    // "<input>_<start>.<ext>", then -2, -3 ... for later segments of the same second: numbers only go up within a
    // run, so a name freed by rotation or retention is never reused for a newer segment (names sort by age).
    fs::path next_segment_path() {
        const std::string stamp = file_clock(wall_now(clock_));
        same_second_ = stamp == last_stamp_ ? same_second_ + 1 : 1;
        last_stamp_ = stamp;
        const std::string base = fmt::format("{}_{}", input_, stamp);
        for (;; ++same_second_) {
            const fs::path path = fs::path(dir_) / (same_second_ == 1 ? fmt::format("{}.{}", base, container_)
                                                                      : fmt::format("{}-{}.{}", base, same_second_,
                                                                                    container_));
            std::error_code ec;
            if (!fs::exists(path, ec) && !fs::exists(part_of(path), ec)) return path;
        }
    }

    void open_segment(Duration media_start) {
        // Segment boundaries fall on multiples of the segment length of media time.
        segment_start_ = media_start - Duration{media_start.count() % segment_.count()};
        final_path_ = next_segment_path();
        std::function<bool()> room;
        if (rotate_on_full_) room = [this] { return make_room(); };
        if (copy_)
            writer_ = std::make_unique<CopiedSegment>(part_of(final_path_).string(), packet_options_, std::move(room));
        else
            writer_ = std::make_unique<EncodedSegment>(part_of(final_path_).string(), options_, std::move(room));
        taken_ = 0;
    }

    void close_segment() {
        try {
            writer_->finish(abort_);  // an aborted run finalises at once what was written
        } catch (const Error& e) {
            segment_failed(e);
            return;
        }
        if (const std::int64_t lost = writer_->written() - writer_->durable(); lost > 0)
            health_->count_unwritten(static_cast<std::uint64_t>(lost));
        const bool any = writer_->written() > 0;
        writer_.reset();
        std::error_code ec;
        if (!any) {
            fs::remove(part_of(final_path_), ec);
            return;
        }
        fs::rename(part_of(final_path_), final_path_, ec);
        if (ec) {
            stop(fmt::format("cannot rename '{}' to '{}': {}", part_of(final_path_).string(), final_path_.string(),
                             ec.message()),
                 "check the folder's permissions");
            return;
        }
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

    // on_full_disk: rotate, called by the encoder when a write finds the disk full: deletes the oldest closed segment
    // (never the open one). False when there is none left to delete, or it cannot be deleted.
    bool make_room() {
        const std::vector<fs::path> segments = closed_segments();
        if (segments.empty()) return false;
        std::error_code ec;
        if (!fs::remove(segments.front(), ec)) return false;
        spdlog::warn("{}: {}: the disk is full; removed the oldest segment {} to make room", input_, traits().name,
                     segments.front().filename().string());
        return true;
    }

    // A write or the close of the open segment failed: the segment is closed with what reached the file (kept under
    // its final name when it holds a playable frame), the frames after its last flush are counted unwritten, and
    // recording pauses until the next segment boundary (rotate, disk full) or stops for the rest of the run.
    void segment_failed(const Error& e) {
        const std::uint64_t lost = taken_ - static_cast<std::uint64_t>(std::min<std::int64_t>(
                                                 static_cast<std::int64_t>(taken_), writer_->durable()));
        const bool disk_full = writer_->disk_full();
        writer_.reset();  // the file is closed already
        health_->count_unwritten(lost);
        std::error_code ec;
        const fs::path part = part_of(final_path_);
        std::string kept = "nothing of the open segment reached the disk";
        if (media::holds_playable_frame(part.string())) {
            fs::rename(part, final_path_, ec);
            if (!ec) {
                ++segments_written_;
                kept = fmt::format("kept what reached the disk as {}", final_path_.filename().string());
            }
        } else {
            fs::remove(part, ec);
        }
        if (rotate_on_full_ && disk_full) {
            resume_at_ = segment_start_ + segment_;
            spdlog::warn("{}: {}: {}; no closed segment left to delete; {}; {} frame(s) lost; recording resumes at the "
                         "next segment boundary ({})",
                         input_, traits().name, e.what(), kept, lost, format_media_time(*resume_at_));
            return;
        }
        stop(fmt::format("{}; {}, {} frame(s) after its last flush lost", e.what(), kept, lost),
             disk_full ? "free some space, or set on_full_disk: rotate to delete the oldest segments instead"
                       : "check the disk and the folder, then restart");
    }

    void stop(const std::string& what, const std::string& advice) {
        stopped_ = true;
        const std::string why = fmt::format("recording stopped: {} (closed segments in '{}' are intact; {}); the "
                                            "rest of the run goes on",
                                            what, dir_, advice);
        spdlog::error("{}: {}: {}", input_, traits().name, why);
        health_->output_stopped(why);
    }

    std::string dir_;
    Duration segment_;
    std::string container_;
    std::optional<Duration> keep_for_;
    std::int64_t max_total_bytes_;
    std::int64_t max_segments_;
    bool rotate_on_full_;
    double fps_;
    bool copy_ = false;  // codec: copy: packets written untouched
    media::VideoEncoder::Options options_;
    media::PacketWriter::Options packet_options_;
    StageHealth* health_ = nullptr;
    std::stop_token abort_;
    std::string input_;
    const Clock* clock_ = nullptr;  // calendar time for {clock} and names (StageContext::clock)
    std::unique_ptr<SegmentWriter> writer_;
    KeyframeGate gate_;  // copy: after a gap, nothing is written until a keyframe
    fs::path final_path_;
    Duration segment_start_{};
    std::uint64_t taken_ = 0;  // frames given to the open segment's encoder
    std::uint64_t segments_written_ = 0;
    std::string last_stamp_;
    int same_second_ = 0;
    std::optional<Duration> resume_at_;  // paused (rotate, nothing left to delete) until this media time
    bool stopped_ = false;
};

// The declarations of this file's stage types (listed after the earlier families).
const bool record_declared = [] {
    using K = OptionKind;
    (void)declare_stage(
        {"record", "Continuous recording in crash-safe segments named by start time, with retention",
         "- { type: record, dir: recordings, segment: 60s, keep_for: 7d }", {.needs_ordered_input = true, .blocking_io = true},
         {{"dir", K::text, "recordings", "Folder for the segments (created if missing)"},
          {"segment", K::duration, "60s", "Media time per segment", 0.1, 86400},
          {"container", K::choice, "mkv", "mkv, ts or mp4 (fragmented): all stay readable after a kill", std::nullopt,
           std::nullopt, {"mkv", "ts", "mp4"}},
          {"codec", K::text, "h264",
           "Video codec (see write_video), or copy: write the source's packets untouched (behind `from: packets`)"},
          {"crf", K::integer, "26", "Quality (lower is better, bigger)", -1, 63},
          {"preset", K::text, "veryfast", "x264/x265 speed preset"},
          {"fps", K::number, "0", "Frame rate of the files (frames retimed to it); 0 = the source's timestamps", 0,
           1000},
          {"keep_for", K::duration, "", "Delete closed segments older than this (e.g. 7d is 168h)", 1, 1e9},
          {"max_total_mb", K::number, "0", "Delete the oldest closed segments beyond this total size; 0 = no limit",
           0, 1e9},
          {"max_segments", K::integer, "0", "Keep at most this many closed segments; 0 = no limit", 0, 1e9},
          {"flush_interval", K::duration, "1s",
           "Media time between flushes of the open segment to the file: the most a kill can lose", 0.04, 60},
          {"on_full_disk", K::choice, "stop",
           "stop: stop recording (the run goes on); rotate: delete the oldest closed segments and go on",
           std::nullopt, std::nullopt, {"stop", "rotate"}}},
         factory_of<Record>(), 400});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
