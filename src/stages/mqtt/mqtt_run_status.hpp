#pragma once
// What a process publishes on MQTT once per broker and topic prefix, beside each camera's own connection (the `mqtt`
// stage), in Frigate's layout:
//
//   PREFIX/available        online / offline (retained; offline is also this connection's last will, so it goes
//                           offline when the process dies, as Frigate's `frigate/available` does)
//   PREFIX/stats            JSON every stats_interval: each camera's capture, delivery and drop rates over the last
//                           interval (camera_fps, process_fps, skipped_fps) and totals; the service's uptime
//   PREFIX/CAMERA/signal    lost / back (retained) when a camera's signal goes or comes back: within a second of the
//                           pipeline's next progress snapshot (PipelineOptions::progress_interval, 1 s by default)
//
// The signal is watched here rather than by the camera's stage because a camera without signal sends no frames: the
// stage would not run until it came back.
//
// StatusTopics is the logic (what is due for a report at a time), apart from any connection, so it is tested in
// simulated time without a broker. MqttRunStatus is the connection and the thread that feeds it: one per broker and
// prefix in the process, shared by the stages that acquire it (as the live view's server is). The last to release it
// publishes the final statistics and `offline`.

#include "mqtt_outbox.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/report.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace framepipe::stages {

/// A camera's name as one topic level: + # and / become _.
std::string topic_level(std::string name);

/// Not thread-safe: one caller at a time.
class StatusTopics {
public:
    StatusTopics(std::string prefix, Duration stats_interval, TimePoint started);
    /// The messages due for `report` at `now`: each camera's signal, when it changed since the last call (a camera
    /// first seen: only when lost); the statistics, when stats_interval has passed since they were last due (or
    /// `final`, at the end). `mqtt_dropped`: messages the outbox had to drop so far (reported in the statistics).
    std::vector<MqttMessage> observe(const RunReport& report, TimePoint now, std::uint64_t mqtt_dropped,
                                     bool final = false);

private:
    struct Camera {
        bool signal_lost = false;
        std::uint64_t captured = 0, delivered = 0, dropped = 0;  // at the last statistics
    };
    std::string prefix_;
    Duration stats_interval_;
    TimePoint started_, last_stats_;
    std::map<std::string, Camera> cameras_;
};

class MqttRunStatus {
public:
    struct Settings {
        MqttBroker broker;
        std::string client_id;  // the connection's id; each camera's is CLIENT_ID-CAMERA
        std::string username, password;
        std::string ca_file;
        std::string prefix;
        Duration stats_interval = std::chrono::seconds(10);
        std::size_t capacity = 1000;
    };
    /// The process's status connection for this broker and prefix: the running one (its settings and clock win), or a
    /// new one. Its watcher reads `report` (null: none) until the matching release(): the cameras of every pipeline
    /// that acquired it are in its statistics. Thread-safe.
    static std::shared_ptr<MqttRunStatus> acquire(const Settings& settings, const LiveReport* report,
                                                  const Clock& clock);
    /// Lets go of `status` (reset) and of `report`, which must outlive this call. The last holder publishes the final
    /// statistics and `offline`, then waits up to 2 s, or until `abort`, for the broker to take them; returns the
    /// messages that could not be delivered (0 if not last). Thread-safe.
    static std::size_t release(std::shared_ptr<MqttRunStatus>& status, const LiveReport* report,
                               const std::stop_token& abort);

    ~MqttRunStatus();
    MqttRunStatus(const MqttRunStatus&) = delete;
    MqttRunStatus& operator=(const MqttRunStatus&) = delete;

private:
    MqttRunStatus(const Settings& settings, const Clock& clock);
    void attach(const LiveReport* report);
    void detach(const LiveReport* report);
    /// Every attached report's latest snapshot, their sources in one report; nullopt while none has one.
    std::optional<RunReport> combined() const;
    void observe(bool final);
    void watch(const std::stop_token& stop);
    std::size_t finish(const std::stop_token& abort);

    std::string key_;
    const Clock& clock_;
    mutable std::mutex reports_mutex_;
    std::map<const LiveReport*, int> reports_;  // attached reports, with how many holders attached each
    MqttOutbox outbox_;
    StatusTopics topics_;  // the watcher's; finish()'s once the watcher has stopped
    std::jthread watcher_;
    bool finished_ = false;
};

}  // namespace framepipe::stages
