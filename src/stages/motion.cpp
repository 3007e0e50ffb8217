// Motion detection and event clips.
//
// motion: background subtraction (OpenCV MOG2) on a small blurred gray copy of each frame. The first `warmup` frames
// learn the background by plain averaging; after that it adapts at a fixed rate chosen so that something that stops
// moving becomes background after about `still_after` (MOG2 counts a new colour as background once its weight passes
// 1 - backgroundRatio = 0.1, so rate = 0.105 / frames). A fixed rate also means no ghost is left where an object was:
// the old background still holds most of the weight when the object leaves. Blobs under a quarter of min_area are
// ignored (noise, compression); a frame moves when the blobs cover at least min_area of the picture. An event starts at the first moving
// frame and ends once nothing has moved for `cooldown` of media time. Each frame is marked with its motion share, the
// moving regions and its event; each event gets a snapshot (optional) and lines in an events file (optional).
//
// Zones and masks (NVR style): polygons in fractions of the picture ("0,0 0.5,0 0.5,1 0,1", so they hold at any
// size, also on a resized analysis branch). Motion inside a mask never counts (a tree, a road, a burned-in clock);
// with zones, only motion inside them counts, and each event lists the zones it touched.
//
// The events file (JSON lines, appended, each line flushed to the OS as it is written, so a SIGKILL loses none): an
// event writes {"state":"started", run, input, event, start_frame, start_s, start_time, zones, snapshot} when it starts
// and {"state":"ended", ... the same ..., end_frame, end_s, end_time} when it ends; *_s are media time, *_time the
// wall-clock time the frame was captured, ISO 8601 with the zone's offset. "run" is the wall-clock time the stage opened, so
// (run, input, event) names one event across restarts; a "started" line without its "ended" line is an event whose
// run was killed (or is still going on).
//
// event_clips: keeps the last `pre_roll` of frames in a ring of buffers allocated once, and when an event starts writes
// a clip that begins with that ring (so it shows what happened before the motion) and runs until `post_roll` after it.
// With codec: copy (behind `from: packets`) it writes the camera's packets untouched instead: the ring keeps packets
// from the keyframe before the pre-roll, and since the motion stage runs on another branch (decoded, usually smaller
// pictures) the events come from its MotionTimeline on the chain's board: a packet waits in the stage until the motion
// branch has reached its moment (at most max_wait of media time; later ones count as without motion).
// A clip is written under "<name>.part.<ext>" and renamed when it closes, flushed every `flush_interval` of media time
// by an encoder that holds no frames back (so a kill loses at most that much); a restart renames a playable leftover
// to "<name>-recovered.<ext>" and removes one with no playable frame. A write failure closes the clip with what reached
// the file and stops the clips only (StageHealth::output_stopped); frames not written are counted.
#include "../media/packet_writer.hpp"
#include "../media/video_decode.hpp"
#include "../media/video_encoder.hpp"
#include "keyframe_gate.hpp"
#include "partial_files.hpp"
#include "stage_support.hpp"
#include "image_output.hpp"
#include "template_text.hpp"

#include <framepipe/attachments/motion.hpp>
#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/background_segm.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <deque>
#include <optional>
#include <set>
#include <sstream>

namespace framepipe::stages {
namespace {

namespace fs = std::filesystem;

struct Polygon {
    std::string name;                 // zones only
    std::vector<cv::Point2f> points;  // fractions of the picture's width and height
};

// "NAME: x,y x,y x,y; ..." (names only when `named`), each coordinate a fraction 0..1. ConfigError names the option
// and the polygon.
std::vector<Polygon> parse_polygons(const std::string& text, const std::string& option, bool named) {
    std::vector<Polygon> polygons;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(';', start), text.size());
        std::string part = text.substr(start, end - start);
        start = end + 1;
        if (part.find_first_not_of(" \t") == std::string::npos) continue;
        Polygon polygon;
        const std::size_t colon = part.find(':');
        if (named) {
            if (colon == std::string::npos)
                throw ConfigError(fmt::format("motion: {}: polygon {} has no name: write NAME: x,y x,y x,y (fractions "
                                              "of the picture, e.g. door: 0,0 0.3,0 0.3,1 0,1)",
                                              option, polygons.size() + 1));
            polygon.name = part.substr(0, colon);
            polygon.name.erase(0, polygon.name.find_first_not_of(' '));
            polygon.name.erase(polygon.name.find_last_not_of(' ') + 1);
            part = part.substr(colon + 1);
        }
        std::istringstream points(part);
        for (std::string point; points >> point;) {
            float x = -1, y = -1;
            char comma = 0;
            std::istringstream xy(point);
            if (!(xy >> x >> comma >> y) || comma != ',' || x < 0 || x > 1 || y < 0 || y > 1)
                throw ConfigError(fmt::format("motion: {}: '{}' in polygon {} is not a point x,y with x and y between "
                                              "0 and 1 (fractions of the picture's width and height)",
                                              option, point, polygons.size() + 1));
            polygon.points.emplace_back(x, y);
        }
        if (polygon.points.size() < 3)
            throw ConfigError(fmt::format("motion: {}: polygon {} has {} point(s); a polygon needs at least 3", option,
                                          polygons.size() + 1, polygon.points.size()));
        polygons.push_back(std::move(polygon));
    }
    return polygons;
}

// The polygon filled with 255 on a black picture of `size`.
cv::Mat polygon_mask(const Polygon& polygon, cv::Size size) {
    cv::Mat mask = cv::Mat::zeros(size, CV_8UC1);
    std::vector<cv::Point> points;
    for (const cv::Point2f& p : polygon.points)
        points.emplace_back(cvRound(p.x * static_cast<float>(size.width)), cvRound(p.y * static_cast<float>(size.height)));
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{points}, cv::Scalar(255));
    return mask;
}

std::uint64_t event_of(const Frame& frame) {
    const auto* motion = frame.find<MotionAttachment>();
    return motion != nullptr ? motion->event : 0;
}

class Motion final : public Stage {
public:
    Motion(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true}),
          width_(static_cast<int>(o.integer("width"))),
          threshold_(o.number("threshold")),
          min_area_(o.number("min_area")),
          cooldown_(o.duration("cooldown")),
          warmup_(o.integer("warmup")),
          still_after_(o.duration("still_after")),
          draw_(o.boolean("draw")),
          events_path_(o.has("events") ? o.text("events") : ""),
          masks_(o.has("mask") ? parse_polygons(o.text("mask"), "mask", false) : std::vector<Polygon>{}),
          zones_(o.has("zones") ? parse_polygons(o.text("zones"), "zones", true) : std::vector<Polygon>{}) {
        if (o.has("snapshots"))
            snapshots_.emplace(o.text("snapshots"), "snapshot.jpg", 90, /*overwrite=*/false);  // names: see start_event
    }

    void open(const StageContext& context) override {
        input_ = context.source.name;
        live_ = context.source.live;
        clock_ = context.clock;
        if (context.board != nullptr) {
            timeline_ = context.board->get<MotionTimeline>("motion/" + traits().name);
            timeline_->written_on(context.source_index);
        }
        subtractor_ = cv::createBackgroundSubtractorMOG2(500, threshold_, false);
        const double fps = context.source.fps > 0 ? context.source.fps : 25.0;
        learning_rate_ = std::min(1.0, 0.105 / std::max(1.0, in_seconds(still_after_) * fps));
        if (snapshots_) snapshots_->prepare();
        if (!events_path_.empty()) {
            const auto parent = std::filesystem::path(events_path_).parent_path();
            std::error_code ec;
            if (!parent.empty()) std::filesystem::create_directories(parent, ec);
            events_.open(events_path_, std::ios::app);
            if (!events_)
                throw ConfigError(fmt::format("motion: cannot write the events file '{}'; choose a path in a folder "
                                              "you can write to",
                                              events_path_));
            run_ = file_clock(wall_now(clock_));
        }
    }

    Outcome process(Frame& frame) override {
        MotionAttachment& motion = frame.attach<MotionAttachment>();
        require_pixels(frame, "motion");
        const cv::Mat& image = frame.image;
        small_gray(image, width_, small_, gray_);
        cv::GaussianBlur(gray_, gray_, cv::Size(5, 5), 0);
        const double rate = frames_seen_ < static_cast<std::uint64_t>(warmup_)
                                ? 1.0 / static_cast<double>(frames_seen_ + 1)
                                : learning_rate_;
        subtractor_->apply(gray_, mask_, rate);
        cv::morphologyEx(mask_, mask_, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3)));
        cv::dilate(mask_, mask_, cv::Mat(), cv::Point(-1, -1), 2);
        if (!masks_.empty() || !zones_.empty()) {
            if (counted_.size() != mask_.size()) prepare_areas(mask_.size());
            cv::bitwise_and(mask_, counted_, mask_);
        }

        contours_.clear();
        cv::findContours(mask_, contours_, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
        const double total = static_cast<double>(mask_.total());
        const double scale = static_cast<double>(image.cols) / width_;
        double moving = 0;
        motion.regions.clear();
        for (const auto& contour : contours_) {
            const double area = cv::contourArea(contour);
            if (area < total * min_area_ * 0.25) continue;  // specks: noise, compression
            moving += area;
            const cv::Rect box = cv::boundingRect(contour);
            motion.regions.emplace_back(static_cast<int>(box.x * scale), static_cast<int>(box.y * scale),
                                       static_cast<int>(box.width * scale), static_cast<int>(box.height * scale));
        }
        const bool warming = frames_seen_++ < static_cast<std::uint64_t>(warmup_);
        motion.share = warming ? 0.0F : static_cast<float>(moving / total);
        if (warming) motion.regions.clear();

        if (motion.share >= min_area_) {
            last_motion_time_ = frame.media_time;
            last_motion_frame_ = frame.sequence;
            last_motion_capture_ = frame.capture_time;
            if (!in_event_) event_zones_.clear();
            for (std::size_t z = 0; z < zones_.size(); ++z)
                if (static_cast<double>(cv::countNonZero(mask_ & zone_areas_[z])) >= total * min_area_ * 0.25)
                    event_zones_.insert(zones_[z].name);
            if (!in_event_) start_event(frame);
        } else if (in_event_ && frame.media_time - last_motion_time_ >= cooldown_) {
            end_event();
        }
        motion.event = in_event_ ? event_id_ : 0;
        if (timeline_) timeline_->record(frame.media_time, motion.event, frame.capture_time);
        if (draw_)
            for (const cv::Rect& r : motion.regions) cv::rectangle(frame.image, r, cv::Scalar(0, 0, 255), 2);
        return Outcome::pass;
    }

    void close() override {
        if (in_event_) end_event();
        if (timeline_) timeline_->close();
        spdlog::info("{}: {}: {} motion event(s)", input_, traits().name, event_id_);
    }

private:
    void start_event(const Frame& frame) {
        in_event_ = true;
        ++event_id_;
        start_frame_ = frame.sequence;
        start_time_ = frame.media_time;
        start_capture_ = frame.capture_time;
        snapshot_.clear();
        if (snapshots_) {
            cv::Mat picture = frame.image.clone();
            for (const cv::Rect& r : frame.find<MotionAttachment>()->regions)
                cv::rectangle(picture, r, cv::Scalar(0, 0, 255), 2);
            snapshot_ = event_file_stem(input_, event_id_, frame, live_, clock_) + ".jpg";
            snapshot_ = snapshots_->write(picture, snapshot_);  // the name written: a taken one gets a suffix
        }
        spdlog::info("{}: motion event {} started at {} (frame {})", input_, event_id_, format_media_time(start_time_),
                     start_frame_);
        write_event_line(false);
    }

    void end_event() {
        in_event_ = false;
        spdlog::info("{}: motion event {} ended: last motion at {} (frame {}), {:.1f} s long", input_, event_id_,
                     format_media_time(last_motion_time_), last_motion_frame_, in_seconds(last_motion_time_ - start_time_));
        write_event_line(true);
    }

    // One line of the events file (see the top of this file), flushed to the OS at once. A JSON writer, so any input
    // name (quotes, backslashes) stays valid JSON.
    void write_event_line(bool ended) {
        if (!events_.is_open() || !events_) return;
        const auto ms_rounded = [](Duration t) { return std::round(in_seconds(t) * 1000) / 1000; };
        nlohmann::ordered_json line = {{"state", ended ? "ended" : "started"},
                                       {"run", run_},
                                       {"input", input_},
                                       {"event", event_id_},
                                       {"start_frame", start_frame_},
                                       {"start_s", ms_rounded(start_time_)},
                                       {"start_time", iso_clock(wall_time_of(start_capture_))}};
        if (ended) {
            line["end_frame"] = last_motion_frame_;
            line["end_s"] = ms_rounded(last_motion_time_);
            line["end_time"] = iso_clock(wall_time_of(last_motion_capture_));
        }
        if (!zones_.empty()) line["zones"] = std::vector<std::string>(event_zones_.begin(), event_zones_.end());
        line["snapshot"] = snapshot_;
        events_ << line.dump() << std::endl;
        if (!events_ && !events_failed_) {
            events_failed_ = true;
            spdlog::error("{}: motion: cannot write to the events file '{}'; events are still marked on the frames",
                          input_, events_path_);
        }
    }

    // The picture motion is measured on: where motion counts (outside masks; inside zones when there are zones), and
    // each zone's area.
    void prepare_areas(cv::Size size) {
        counted_ = zones_.empty() ? cv::Mat(size, CV_8UC1, cv::Scalar(255)) : cv::Mat::zeros(size, CV_8UC1);
        zone_areas_.clear();
        for (const Polygon& zone : zones_) {
            zone_areas_.push_back(polygon_mask(zone, size));
            counted_ |= zone_areas_.back();
        }
        for (const Polygon& mask : masks_) counted_.setTo(0, polygon_mask(mask, size));
    }

    [[nodiscard]] std::chrono::system_clock::time_point wall_time_of(TimePoint captured) const {
        return clock_ != nullptr ? clock_->wall_time(captured) : std::chrono::system_clock::now();
    }

    int width_;
    double threshold_;
    double min_area_;
    Duration cooldown_;
    std::int64_t warmup_;
    Duration still_after_;
    double learning_rate_ = 0;
    bool draw_;
    std::string events_path_;
    std::optional<ImageOutput> snapshots_;
    std::ofstream events_;
    bool events_failed_ = false;
    std::string run_;
    std::string input_;
    cv::Ptr<cv::BackgroundSubtractorMOG2> subtractor_;
    cv::Mat small_, gray_, mask_;
    std::vector<std::vector<cv::Point>> contours_;
    std::uint64_t frames_seen_ = 0;
    std::shared_ptr<MotionTimeline> timeline_;  // this stage's events for other branches (the chain's board)
    bool in_event_ = false;
    bool live_ = false;
    const Clock* clock_ = nullptr;  // calendar time for live names
    std::uint64_t event_id_ = 0;
    std::uint64_t start_frame_ = 0, last_motion_frame_ = 0;
    TimePoint start_capture_{}, last_motion_capture_{};
    std::vector<Polygon> masks_, zones_;
    cv::Mat counted_;
    std::vector<cv::Mat> zone_areas_;
    std::set<std::string> event_zones_;  // the zones the current event has touched
    Duration start_time_{}, last_motion_time_{};
    std::string snapshot_;
};

class EventClips final : public Stage {
public:
    EventClips(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .blocking_io = true, .read_only = true}),
          dir_(o.text("dir")),
          pre_roll_(o.duration("pre_roll")),
          post_roll_(o.duration("post_roll")),
          width_(static_cast<int>(o.integer("width"))),
          container_(o.text("container")),
          copy_(o.text("codec") == "copy"),
          motion_(o.text("motion")),
          max_wait_(o.duration("max_wait")) {
        if (copy_) {
            if (width_ != 0) throw ConfigError("event_clips: codec: copy keeps the camera's pictures; remove 'width'");
            packet_options_.fragmented = container_ == "mp4";
            packet_options_.flush_interval = o.duration("flush_interval");
            media::PacketWriter check((fs::path(dir_) / ("check." + container_)).string(), packet_options_);
            return;
        }
        options_.codec = o.text("codec");
        options_.crf = static_cast<int>(o.integer("crf"));
        options_.fragmented = container_ == "mp4";
        options_.low_delay = true;
        options_.flush_interval = o.duration("flush_interval");
        media::VideoEncoder check((fs::path(dir_) / ("check." + container_)).string(), options_);
    }

    void open(const StageContext& context) override {
        health_ = context.health;
        abort_ = context.abort;
        input_ = stem_of(context.source.name);
        live_ = context.source.live;
        chain_ = context.source_index;
        clock_ = context.clock;
        options_.fps = context.source.fps > 0 ? context.source.fps : 25.0;
        ring_.resize(copy_ ? 0 : static_cast<std::size_t>(in_seconds(pre_roll_) * options_.fps) + 2);
        if (copy_) timeline_ = context.board->get<MotionTimeline>("motion/" + motion_);
        media::prepare_output_folder(dir_, "event_clips");
        recover_partial_clips();
    }

    Outcome process(Frame& frame) override {
        if (copy_) return process_packet(frame);
        require_pixels(frame, "event_clips");
        const std::uint64_t event = event_of(frame);
        if (stopped_) {
            if (event != 0) health_->count_unwritten();
            return Outcome::pass;
        }
        if (event != 0 && (!clip_ || event != clip_event_)) {
            if (clip_) finish_clip();
            if (!stopped_) start_clip(frame);
        }
        if (clip_) {
            if (event != 0) last_event_time_ = frame.media_time;
            write(scaled(frame.image), frame.media_time);
            if (clip_ && event == 0 && frame.media_time - last_event_time_ > post_roll_) finish_clip();
            return Outcome::pass;
        }
        if (stopped_) {
            health_->count_unwritten();
            return Outcome::pass;
        }
        // No clip open: keep the frame in the pre-roll ring (buffers reused, nothing allocated in steady state).
        Slot& slot = ring_[ring_head_];
        scaled(frame.image).copyTo(slot.image);
        slot.media_time = frame.media_time;
        slot.used = true;
        ring_head_ = (ring_head_ + 1) % ring_.size();
        return Outcome::pass;
    }

    void close() override {
        if (copy_ && !waiting_.empty()) {  // the motion branch may still be working through the last moments
            if (may_wait_for_motion())  // (it may not have started yet)
                (void)timeline_->wait_for(waiting_.back().media_time, abort_, std::chrono::hours(24));
            else if (timeline_->active())  // (no motion stage of that name ever reported: nothing to wait for)
                (void)timeline_->wait_for(waiting_.back().media_time, abort_, std::chrono::seconds(10));
            decide_waiting(/*at_end=*/true);
        }
        if (clip_open()) finish_clip();
    }

private:
    // codec: copy. The packet waits for the motion branch to reach its moment; packets are then decided in order.
    Outcome process_packet(const Frame& frame) {
        if (frame.format != PixelFormat::encoded)
            throw ConfigError("event_clips with codec: copy writes the source's compressed packets, and this stage gets "
                              "pictures: add `from: packets` to it (or choose a codec such as h264)");
        if (!gate_.admits(frame)) {  // after a gap nothing is kept until the next keyframe
            if (clip_open()) health_->count_unwritten();
            return Outcome::pass;
        }
        const auto* picture = frame.find<media::PictureAttachment>();
        media::Packet& packet = waiting_.emplace_back();
        packet.bytes = frame.encoded;
        packet.pts = frame.pts;
        packet.dts = frame.dts;
        packet.key = frame.key;
        packet.media_time = frame.media_time;
        packet.capture_time = frame.capture_time;
        packet.stream = picture != nullptr ? picture->stream : nullptr;
        packet.audio = media::audio_of(frame);
        decide_waiting(/*at_end=*/false);
        return Outcome::pass;
    }

    void decide_waiting(bool at_end) {
        while (!waiting_.empty()) {
            media::Packet& packet = waiting_.front();
            std::optional<std::uint64_t> event = timeline_->event_at(packet.media_time);
            if (!event) {
                const bool too_long = waiting_.back().media_time - packet.media_time > max_wait_;
                if (!at_end && !too_long) return;
                if (!at_end && may_wait_for_motion())
                    event = timeline_->wait_for(packet.media_time, abort_, std::chrono::hours(24));
            }
            if (!event) {
                const bool too_long = waiting_.back().media_time - packet.media_time > max_wait_;
                if (too_long && !warned_wait_) {
                    warned_wait_ = true;
                    spdlog::warn("{}: {}: the motion stage '{}' is more than {:.0f} s behind the packets (or there is "
                                 "no motion stage of that name on this input); packets it has not reached count as "
                                 "without motion",
                                 input_, traits().name, motion_, in_seconds(max_wait_));
                }
                event = 0;
            }
            decide(std::move(packet), *event);
            waiting_.pop_front();
        }
    }

    void decide(media::Packet packet, std::uint64_t event) {
        if (stopped_) {
            if (event != 0) health_->count_unwritten();
            return;
        }
        if (event != 0 && (!clip_open() || event != clip_event_)) {
            if (clip_open()) finish_clip();
            if (!stopped_) start_packet_clip(packet, event);
        }
        if (clip_open()) {
            if (event != 0) last_event_time_ = packet.media_time;
            const Duration at = packet.media_time;
            write_packet(packet);
            if (clip_open() && event == 0 && at - last_event_time_ > post_roll_) finish_clip();
            // The pre-roll goes on filling: an event that starts during this clip's post-roll gets its own.
            packets_.push_back(std::move(packet));
            trim_pre_roll(at);
            return;
        }
        // No clip open: the pre-roll keeps packets from the last keyframe at least pre_roll before this one.
        const Duration now = packet.media_time;
        packets_.push_back(std::move(packet));
        trim_pre_roll(now);
    }

    // Keeps the pre-roll from the last keyframe at least pre_roll before `now` (a clip must start on a keyframe).
    void trim_pre_roll(Duration now) {
        std::size_t first = 0;
        for (std::size_t i = 0; i < packets_.size(); ++i)
            if (packets_[i].key && packets_[i].media_time <= now - pre_roll_) first = i;
        packets_.erase(packets_.begin(), packets_.begin() + static_cast<std::ptrdiff_t>(first));
    }

    void start_packet_clip(const media::Packet& first, std::uint64_t event) {
        clip_event_ = event;
        last_event_time_ = first.media_time;
        // Named like the motion stage's snapshot: by the event's first frame on the motion branch.
        const std::optional<MotionTimeline::Start> start = timeline_->start_of(event);
        Frame naming;
        naming.media_time = start ? start->media_time : first.media_time;
        naming.capture_time = start ? start->capture_time : first.capture_time;
        clip_path_ = fs::path(dir_) / (event_file_stem(input_, clip_event_, naming, live_, clock_) + "." + container_);
        packet_clip_ = std::make_unique<media::PacketWriter>(part_of(clip_path_).string(), packet_options_);
        taken_ = 0;
        trim_pre_roll(first.media_time);
        for (const media::Packet& packet : packets_)
            if (clip_open()) write_packet(packet);
        packets_.clear();
    }

    void write_packet(const media::Packet& packet) {
        ++taken_;
        try {
            if (!packet_clip_->write(packet)) {  // before the clip's first keyframe
                --taken_;
                health_->count_unwritten();
            }
        } catch (const Error& e) {
            clip_failed(e);
        }
    }

    // Files, with motion on another chain (a camera's sub stream): this one is read faster than that one is analysed,
    // and waiting for it holds up nothing it needs (on its own chain, motion would wait for these packets' siblings;
    // live, both streams come at their own pace and max_wait bounds the wait). It ends when motion closes, or on abort.
    [[nodiscard]] bool may_wait_for_motion() const { return !live_ && timeline_->written_elsewhere(chain_); }

    [[nodiscard]] bool clip_open() const noexcept { return clip_ != nullptr || packet_clip_ != nullptr; }
    [[nodiscard]] std::int64_t clip_written() const noexcept {
        return clip_ ? clip_->frames_written() : packet_clip_->packets_written();
    }
    [[nodiscard]] std::int64_t clip_durable() const noexcept {
        return clip_ ? clip_->frames_durable() : packet_clip_->packets_durable();
    }

    struct Slot {
        cv::Mat image;
        Duration media_time{};
        bool used = false;
    };

    const cv::Mat& scaled(const cv::Mat& image) { return scaled_to_width(image, width_, scaled_); }

    void recover_partial_clips() {
        (void)recover_leftovers(dir_, input_, container_, fmt::format("{}: {}", input_, traits().name), "clip");
    }

    void start_clip(const Frame& frame) {
        clip_event_ = event_of(frame);
        last_event_time_ = frame.media_time;
        const std::string file = event_file_stem(input_, clip_event_, frame, live_, clock_) + "." + container_;
        clip_path_ = fs::path(dir_) / file;
        clip_ = std::make_unique<media::VideoEncoder>(part_of(clip_path_).string(), options_);
        taken_ = 0;
        // The pre-roll: ring frames from within pre_roll before this one, oldest first.
        for (std::size_t i = 0; i < ring_.size(); ++i) {
            Slot& slot = ring_[(ring_head_ + i) % ring_.size()];
            if (slot.used && frame.media_time - slot.media_time <= pre_roll_ && clip_) write(slot.image, slot.media_time);
            slot.used = false;
        }
    }

    void write(const cv::Mat& image, Duration media_time) {
        ++taken_;
        try {
            clip_->write(image, media_time);
        } catch (const Error& e) {
            clip_failed(e);
        }
    }

    void finish_clip() {
        try {
            if (clip_)
                clip_->finish(abort_);  // an aborted run finalises at once what was written
            else
                packet_clip_->finish();
        } catch (const Error& e) {
            clip_failed(e);
            return;
        }
        if (const std::int64_t lost = clip_written() - clip_durable(); lost > 0)
            health_->count_unwritten(static_cast<std::uint64_t>(lost));
        const std::int64_t frames = clip_written();
        clip_.reset();
        packet_clip_.reset();
        std::error_code ec;
        fs::rename(part_of(clip_path_), clip_path_, ec);
        if (ec) {
            stop(fmt::format("cannot rename '{}' to '{}': {}", part_of(clip_path_).string(), clip_path_.string(),
                             ec.message()));
            return;
        }
        spdlog::info("{}: {}: wrote event clip {} ({} frames)", input_, traits().name, clip_path_.string(), frames);
    }

    // A write or the close of the open clip failed: the clip keeps what reached the file (renamed to its final name
    // when it holds a playable frame), the frames after its last flush are counted unwritten, and clips stop.
    void clip_failed(const Error& e) {
        const std::uint64_t lost = taken_ - static_cast<std::uint64_t>(std::min<std::int64_t>(
                                                 static_cast<std::int64_t>(taken_), clip_durable()));
        clip_.reset();  // the file is closed already
        packet_clip_.reset();
        health_->count_unwritten(lost);
        std::error_code ec;
        std::string kept = "nothing of the open clip reached the disk";
        if (media::holds_playable_frame(part_of(clip_path_).string())) {
            fs::rename(part_of(clip_path_), clip_path_, ec);
            if (!ec) kept = fmt::format("kept what reached the disk as {}", clip_path_.filename().string());
        } else {
            fs::remove(part_of(clip_path_), ec);
        }
        stop(fmt::format("{}; {}, {} frame(s) after its last flush lost", e.what(), kept, lost));
    }

    void stop(const std::string& what) {
        stopped_ = true;
        const std::string why = fmt::format("event clips stopped: {} (closed clips in '{}' are intact; free some "
                                            "space or check the folder, then restart); the rest of the run goes on",
                                            what, dir_);
        spdlog::error("{}: {}: {}", input_, traits().name, why);
        health_->output_stopped(why);
    }

    std::string dir_;
    Duration pre_roll_, post_roll_;
    int width_;
    std::string container_;
    media::VideoEncoder::Options options_;
    StageHealth* health_ = nullptr;
    std::stop_token abort_;
    std::string input_;
    std::vector<Slot> ring_;
    std::size_t ring_head_ = 0;
    cv::Mat scaled_;
    std::unique_ptr<media::VideoEncoder> clip_;
    // codec: copy
    bool copy_;
    std::string motion_;  // the motion stage whose events are followed
    Duration max_wait_;
    std::uint32_t chain_ = 0;  // the chain this stage runs on
    media::PacketWriter::Options packet_options_;
    std::shared_ptr<MotionTimeline> timeline_;
    std::deque<media::Packet> waiting_;  // not decided yet: the motion branch has not reached them
    std::deque<media::Packet> packets_;  // the pre-roll, from a keyframe
    std::unique_ptr<media::PacketWriter> packet_clip_;
    KeyframeGate gate_;
    bool warned_wait_ = false;
    std::uint64_t clip_event_ = 0;
    std::uint64_t taken_ = 0;  // frames given to the open clip's encoder
    bool live_ = false;
    const Clock* clock_ = nullptr;  // calendar time for live names
    bool stopped_ = false;
    Duration last_event_time_{};
    fs::path clip_path_;
};

// The declarations of this file's stage types (listed after the earlier families).
const bool motion_declared = [] {
    using K = OptionKind;
    (void)declare_stage(
        {"motion", "Detect motion (background subtraction); mark frames, start and end events, snapshot each event",
         "- { type: motion, min_area: 0.005, cooldown: 3s, snapshots: events }", {.needs_ordered_input = true},
         {{"width", K::integer, "320", "Width of the gray copy motion is measured on", 32, 1920},
          {"threshold", K::number, "25", "How different from the background a pixel must be (MOG2 variance)", 1, 1000},
          {"min_area", K::number, "0.005", "Share of the picture that must move to count as motion", 0.0001, 1},
          {"cooldown", K::duration, "2s", "An event ends after this long without motion", 0, 3600},
          {"warmup", K::integer, "15", "Frames to learn the background before reporting motion", 0, 100000},
          {"still_after", K::duration, "10s", "Something that stops moving becomes background after about this long",
           0.1, 86400},
          {"snapshots", K::text, "", "Folder for a snapshot of each event's first frame (empty = none)"},
          {"events", K::text, "",
           "File to append JSON lines to: one when an event starts, one when it ends (empty = none)"},
          {"draw", K::boolean, "false", "Draw the moving regions on the frames"},
          {"mask", K::text, "",
           "Polygons where motion never counts, in fractions of the picture: \"x,y x,y x,y; ...\" (e.g. 0,0 1,0 1,0.1 "
           "0,0.1 for a clock along the top)"},
          {"zones", K::text, "",
           "Named polygons; only motion inside them counts, and events list the zones they touched: \"door: 0,0 "
           "0.3,0 0.3,1 0,1; yard: ...\""}},
         factory_of<Motion>(), 500});
    (void)declare_stage(
        {"event_clips", "Write a clip per motion event, starting pre_roll before it (put it after motion)",
         "- { type: event_clips, dir: clips, pre_roll: 3s, post_roll: 2s }", {.needs_ordered_input = true, .blocking_io = true},
         {{"dir", K::text, "clips", "Folder for the clips"},
          {"pre_roll", K::duration, "3s", "How much before the motion each clip starts", 0, 60},
          {"post_roll", K::duration, "2s", "How long after the event ends the clip goes on", 0, 60},
          {"width", K::integer, "0", "Clip width (height follows); 0 keeps the frame's size", 0, 8192},
          {"codec", K::text, "h264",
           "Video codec (see write_video), or copy: the camera's packets untouched (behind `from: packets`)"},
          {"crf", K::integer, "26", "Quality (lower is better)", -1, 63},
          {"container", K::choice, "mkv", "mkv, ts or mp4 (fragmented)", std::nullopt, std::nullopt,
           {"mkv", "ts", "mp4"}},
          {"motion", K::text, "motion", "codec: copy: the motion stage (on another branch) whose events it follows"},
          {"max_wait", K::duration, "10s",
           "codec: copy: how far (media time) packets may wait for the motion branch to catch up", 0.1, 600},
          {"flush_interval", K::duration, "1s",
           "Media time between flushes of the open clip to the file: the most a kill can lose", 0.04, 60}},
         factory_of<EventClips>(), 500});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
