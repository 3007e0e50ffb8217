// The `mqtt` stage: a camera's motion events and availability on MQTT, laid out as Frigate publishes them so that
// consumers written for Frigate (Home Assistant's integration, Node-RED flows) need little change:
//
//   PREFIX/events                    JSON {type: new|update|end, before, after}: one event's state (Frigate's shape)
//   PREFIX/CAMERA/motion             ON when an event starts, OFF when it ends (retained)
//   PREFIX/CAMERA/motion/snapshot    the event's busiest frame as JPEG bytes, when it ends (retained)
//   PREFIX/CAMERA/available          online / offline (retained; offline is the connection's last will)
//
// and, once per process for every camera (mqtt_run_status.hpp): PREFIX/available, PREFIX/stats, PREFIX/CAMERA/signal.
//
// Put it after `motion`, or write `mqtt:` at the top of a pipeline file, which adds it to every input's chain
// (pipeline_file.hpp). It never holds up the pipeline: messages go through a bounded outbox (mqtt_outbox.hpp) that
// keeps them across broker restarts and counts what it had to drop (as the stage's unwritten frames). Each input gets
// a connection of its own, so each camera has its own last will. The password comes from the environment variable
// named by password_env, never from the pipeline file, and is never printed.

#include "mqtt_outbox.hpp"
#include "mqtt_run_status.hpp"

#include "../../media/jpeg_encode.hpp"
#include "../stage_support.hpp"

#include <framepipe/attachments/motion.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include <unistd.h>

namespace framepipe::stages {
namespace {

std::string host_name() {
    char name[256] = {};
    return ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string("host");
}

class MqttEvents final : public Stage {
public:
    MqttEvents(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .read_only = true}),
          broker_url_(o.text("broker")),
          client_id_(o.text("client_id").empty() ? "framepipe" : o.text("client_id")),
          password_env_(o.has("password_env") ? o.text("password_env") : std::string()),
          ca_file_(o.has("ca_file") ? o.text("ca_file") : std::string()),
          prefix_(o.text("topic_prefix")),
          snapshot_(o.boolean("snapshot")),
          update_interval_(o.duration("update_interval")),
          stats_interval_(o.duration("stats_interval")),
          capacity_(static_cast<std::size_t>(o.integer("outbox"))) {
        std::string user;
        broker_ = MqttBroker::parse(broker_url_, user);
        user_ = user;
        if (!password_env_.empty() && user_.empty())
            throw ConfigError(fmt::format("{}: password_env needs a user in the broker URL (mqtt://USER@HOST)", name));
        if (!ca_file_.empty()) {
            if (!broker_.tls)
                throw ConfigError(fmt::format("{}: ca_file is for TLS: write the broker as mqtts://HOST[:PORT]", name));
            std::error_code ec;
            if (!std::filesystem::is_regular_file(ca_file_, ec))
                throw ConfigError(fmt::format("{}: ca_file '{}' is not a file; give the PEM certificate of the CA that "
                                              "signed the broker's",
                                              name, ca_file_));
        }
    }

    void open(const StageContext& context) override {
        camera_ = topic_level(context.source.name);
        clock_ = context.clock;
        health_ = context.health;
        live_ = context.live_report;
        abort_ = context.abort;
        std::string password;
        if (!password_env_.empty()) {
            const char* value = std::getenv(password_env_.c_str());
            if (value == nullptr)
                throw ConfigError(fmt::format("{}: the environment variable {} (password_env) is not set",
                                              traits().name, password_env_));
            password = value;
        }
        const std::string id = client_id_ + "-" + camera_;
        outbox_ = std::make_unique<MqttOutbox>(MqttOptions{.broker = broker_,
                                                           .client_id = id,
                                                           .username = user_,
                                                           .password = password,
                                                           .ca_file = ca_file_,
                                                           .availability_topic = topic("available"),
                                                           .capacity = capacity_});
        run_status_ = MqttRunStatus::acquire({.broker = broker_,
                                              .client_id = fmt::format("{}-{}-{}", client_id_, host_name(), ::getpid()),
                                              .username = user_,
                                              .password = password,
                                              .ca_file = ca_file_,
                                              .prefix = prefix_,
                                              .stats_interval = stats_interval_,
                                              .capacity = capacity_},
                                             live_, *context.clock);
    }

    Outcome process(Frame& frame) override {
        const auto* motion = frame.find<MotionAttachment>();
        const std::uint64_t event = motion != nullptr ? motion->event : 0;
        if (event != event_) {
            if (event_ != 0) end_event(frame.media_time);
            if (event != 0) start_event(frame, event, *motion);
        } else if (event_ != 0) {
            track(frame, *motion);
            if (frame.media_time - last_update_ >= update_interval_) publish_event("update", frame.media_time);
        }
        return Outcome::pass;
    }

    void close() override {
        if (!outbox_) return;
        if (event_ != 0) end_event(last_media_time_);  // the input ended during an event
        const std::size_t unsent = outbox_->close(std::chrono::seconds(2), abort_);
        const std::uint64_t lost = outbox_->dropped() + unsent;
        if (lost > 0) {
            health_->count_unwritten(lost);
            spdlog::warn("{}: {}: {} MQTT message(s) could not be delivered ({} dropped from a full outbox, {} unsent "
                         "when the run ended)",
                         camera_, traits().name, lost, outbox_->dropped(), unsent);
        }
        outbox_.reset();
        (void)MqttRunStatus::release(run_status_, live_, abort_);  // the last camera's: final statistics, offline
    }

    ~MqttEvents() override {
        try {
            (void)MqttRunStatus::release(run_status_, live_, abort_);
        } catch (...) {  // a destructor does not throw; the status connection's messages are lost
        }
    }

private:
    [[nodiscard]] std::string topic(const std::string& leaf) const { return prefix_ + "/" + camera_ + "/" + leaf; }

    [[nodiscard]] nlohmann::json event_state(std::optional<double> end_time) const {
        return {{"id", event_id_},
                {"camera", camera_},
                {"label", "motion"},
                {"start_time", start_wall_},
                {"end_time", end_time ? nlohmann::json(*end_time) : nlohmann::json(nullptr)},
                {"media_start", in_seconds(start_media_)},
                {"score", share_},
                {"top_score", top_share_},
                {"frames", frames_},
                {"has_snapshot", snapshot_},
                {"region", {box_.x, box_.y, box_.width, box_.height}}};
    }

    void publish_event(const char* type, Duration media_time, std::optional<double> end_time = std::nullopt) {
        nlohmann::json after = event_state(end_time);
        nlohmann::json message{{"type", type}, {"before", before_}, {"after", after}};
        outbox_->publish({prefix_ + "/events", message.dump(), false});
        before_ = std::move(after);
        last_update_ = media_time;
    }

    void track(const Frame& frame, const MotionAttachment& motion) {
        ++frames_;
        share_ = motion.share;
        last_media_time_ = frame.media_time;
        if (motion.share > top_share_ || best_.empty()) {
            top_share_ = motion.share;
            box_ = {};
            for (const cv::Rect& region : motion.regions) box_ = box_.empty() ? region : (box_ | region);
            if (snapshot_) frame.image.copyTo(best_);
        }
    }

    void start_event(const Frame& frame, std::uint64_t event, const MotionAttachment& motion) {
        event_ = event;
        frames_ = 0;
        top_share_ = 0;
        best_.release();
        start_media_ = frame.media_time;
        start_wall_ = in_seconds(clock_->wall_time(frame.capture_time).time_since_epoch());
        event_id_ = fmt::format("{}-{}-{:.3f}", camera_, event, start_wall_);
        before_ = nullptr;
        track(frame, motion);
        outbox_->publish({topic("motion"), "ON", true});
        publish_event("new", frame.media_time);
    }

    void end_event(Duration media_time) {
        const double end = start_wall_ + in_seconds(media_time - start_media_);
        publish_event("end", media_time, end);
        outbox_->publish({topic("motion"), "OFF", true});
        if (snapshot_ && !best_.empty()) {
            std::vector<std::uint8_t> jpeg;
            if (media::encode_jpeg(best_, 85, jpeg))
                outbox_->publish({topic("motion/snapshot"), std::string(jpeg.begin(), jpeg.end()), true});
        }
        event_ = 0;
        before_ = nullptr;
    }

    std::string broker_url_, client_id_, password_env_, ca_file_, prefix_, user_;
    MqttBroker broker_;
    bool snapshot_;
    Duration update_interval_, stats_interval_;
    std::size_t capacity_;

    std::string camera_;
    const Clock* clock_ = nullptr;
    StageHealth* health_ = nullptr;
    const LiveReport* live_ = nullptr;  // the pipeline's; outlives the stage
    std::stop_token abort_;
    std::unique_ptr<MqttOutbox> outbox_;
    std::shared_ptr<MqttRunStatus> run_status_;

    std::uint64_t event_ = 0;
    std::string event_id_;
    double start_wall_ = 0;
    Duration start_media_{}, last_update_{}, last_media_time_{};
    std::uint64_t frames_ = 0;
    float share_ = 0, top_share_ = 0;
    cv::Rect box_;
    cv::Mat best_;
    nlohmann::json before_;
};

const bool mqtt_events_declared = [] {
    using K = OptionKind;
    (void)declare_stage(
        {"mqtt", "Publish motion events, availability and statistics on MQTT, laid out as Frigate does (after motion; or "
         "write mqtt: at the top of the file)",
         "- { type: mqtt, broker: \"mqtt://127.0.0.1:1883\", topic_prefix: framepipe }",
         {.needs_ordered_input = true, .read_only = true},
         {{"broker", K::text, "mqtt://127.0.0.1:1883",
           "mqtt://[USER@]HOST[:PORT], or mqtts://... for TLS (no password in the URL)"},
          {"password_env", K::text, "", "Environment variable holding the password (never in the file, never printed)"},
          {"ca_file", K::text, "", "mqtts://: the CA certificate (PEM) that signed the broker's (default: the system's)"},
          {"client_id", K::text, "framepipe",
           "Client id; each input connects as CLIENT_ID-INPUT, the host's status as CLIENT_ID-HOSTNAME-PID"},
          {"topic_prefix", K::text, "framepipe",
           "First level of every topic (frigate for Frigate's own layout); one per host"},
          {"snapshot", K::boolean, "true", "Publish each event's busiest frame as JPEG when it ends"},
          {"update_interval", K::duration, "5s", "Media time between an event's update messages", 0.1, 3600},
          {"stats_interval", K::duration, "10s", "Time between statistics messages (PREFIX/stats, every camera)", 0.1,
           86400},
          {"outbox", K::integer, "1000", "Messages kept while the broker is away; beyond, the oldest are dropped "
                                         "(counted)", 1, 1000000}},
         factory_of<MqttEvents>(), 510});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
