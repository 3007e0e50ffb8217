#include "mqtt_run_status.hpp"

#include "../../live/live_view_server.hpp"

#include <framepipe/error.hpp>
#include <framepipe/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <mutex>

namespace framepipe::stages {

std::string topic_level(std::string name) {
    for (char& c : name)
        if (c == '+' || c == '#' || c == '/') c = '_';
    return name;
}

StatusTopics::StatusTopics(std::string prefix, Duration stats_interval, TimePoint started)
    : prefix_(std::move(prefix)), stats_interval_(stats_interval), started_(started), last_stats_(started) {}

std::vector<MqttMessage> StatusTopics::observe(const RunReport& report, TimePoint now, std::uint64_t mqtt_dropped,
                                               bool final) {
    std::vector<MqttMessage> due;
    const bool stats_due = final || now - last_stats_ >= stats_interval_;
    const double interval = in_seconds(now - last_stats_);
    const auto rate = [interval](std::uint64_t now_count, std::uint64_t before) {
        return interval > 0 && now_count >= before ? static_cast<double>(now_count - before) / interval : 0.0;
    };
    nlohmann::json cameras = nlohmann::json::object();
    for (const SourceReport& source : report.sources) {
        const std::string name = topic_level(source.name);
        const auto [at, first] = cameras_.try_emplace(name);
        Camera& camera = at->second;
        if (source.signal_lost != camera.signal_lost || (first && source.signal_lost)) {
            camera.signal_lost = source.signal_lost;
            due.push_back({fmt::format("{}/{}/signal", prefix_, name), source.signal_lost ? "lost" : "back", true});
        }
        if (!stats_due) continue;
        const std::uint64_t dropped = source.dropped();
        cameras[name] = {{"camera_fps", rate(source.captured, camera.captured)},
                         {"process_fps", rate(source.delivered, camera.delivered)},
                         {"skipped_fps", rate(dropped, camera.dropped)},
                         {"captured", source.captured},
                         {"delivered", source.delivered},
                         {"dropped", dropped},
                         {"signal_lost", source.signal_lost},
                         {"live", source.live}};
        camera.captured = source.captured;
        camera.delivered = source.delivered;
        camera.dropped = dropped;
    }
    if (!stats_due) return due;
    const nlohmann::json stats{
        {"cameras", cameras},
        {"service", {{"uptime", in_seconds(now - started_)}, {"version", FRAMEPIPE_VERSION}, {"final", final}}},
        {"mqtt_dropped", mqtt_dropped}};
    // Names not in UTF-8 are replaced, not thrown over.
    due.push_back({prefix_ + "/stats", stats.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false});
    last_stats_ = now;
    return due;
}

namespace {

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<MqttRunStatus>>& registry() {
    static std::map<std::string, std::weak_ptr<MqttRunStatus>> running;
    return running;
}

// Whether `host` resolves to loopback only (the live view's test); a name that does not resolve is not warned about:
// the connection fails and says so.
bool off_loopback(const std::string& host) {
    try {
        return !live::LiveViewServer::is_loopback(host);
    } catch (const ConfigError&) {
        return false;
    }
}

std::string key_of(const MqttRunStatus::Settings& settings) {
    return fmt::format("{}:{}/{}", settings.broker.host, settings.broker.port, settings.prefix);
}

}  // namespace

std::shared_ptr<MqttRunStatus> MqttRunStatus::acquire(const Settings& settings, const LiveReport* report,
                                                      const Clock& clock) {
    const std::lock_guard lock(registry_mutex);
    std::weak_ptr<MqttRunStatus>& slot = registry()[key_of(settings)];
    std::shared_ptr<MqttRunStatus> status = slot.lock();
    if (!status) {
        status.reset(new MqttRunStatus(settings, clock));
        slot = status;
    }
    status->attach(report);
    return status;
}

std::size_t MqttRunStatus::release(std::shared_ptr<MqttRunStatus>& status, const LiveReport* report,
                                   const std::stop_token& abort) {
    if (!status) return 0;
    std::unique_lock lock(registry_mutex);
    if (status.use_count() > 1) {  // others hold it; they cannot let go meanwhile (the registry lock)
        status->detach(report);
        status.reset();
        return 0;
    }
    registry().erase(status->key_);  // a later acquire makes a new one
    lock.unlock();
    const std::size_t lost = status->finish(abort);
    status.reset();
    return lost;
}

MqttRunStatus::MqttRunStatus(const Settings& settings, const Clock& clock)
    : key_(key_of(settings)),
      clock_(clock),
      outbox_(MqttOptions{.broker = settings.broker,
                          .client_id = settings.client_id,
                          .username = settings.username,
                          .password = settings.password,
                          .ca_file = settings.ca_file,
                          .availability_topic = settings.prefix + "/available",
                          .capacity = settings.capacity}),
      topics_(settings.prefix, settings.stats_interval, clock.now()) {
    if (!settings.password.empty() && !settings.broker.tls && off_loopback(settings.broker.host))
        spdlog::warn("mqtt: the password goes to {}:{} unencrypted; use mqtts:// (TLS) for a broker on another machine",
                     settings.broker.host, settings.broker.port);
    watcher_ = std::jthread([this](const std::stop_token& stop) { watch(stop); });
}

MqttRunStatus::~MqttRunStatus() {
    try {
        (void)finish({});
    } catch (...) {  // a destructor does not throw
    }
}

void MqttRunStatus::attach(const LiveReport* report) {
    if (report == nullptr) return;
    const std::lock_guard lock(reports_mutex_);
    ++reports_[report];
}

void MqttRunStatus::detach(const LiveReport* report) {
    if (report == nullptr) return;
    const std::lock_guard lock(reports_mutex_);
    if (const auto at = reports_.find(report); at != reports_.end() && --at->second == 0) reports_.erase(at);
}

std::optional<RunReport> MqttRunStatus::combined() const {
    std::optional<RunReport> all;
    const std::lock_guard lock(reports_mutex_);
    for (const auto& [report, holders] : reports_) {
        const std::shared_ptr<const RunReport> latest = report->latest();
        if (!latest) continue;
        if (!all) all.emplace();
        all->sources.insert(all->sources.end(), latest->sources.begin(), latest->sources.end());
    }
    return all;
}

void MqttRunStatus::observe(bool final) {
    if (const std::optional<RunReport> report = combined())
        for (MqttMessage& message : topics_.observe(*report, clock_.now(), outbox_.dropped(), final))
            outbox_.publish(std::move(message));
}

void MqttRunStatus::watch(const std::stop_token& stop) {
    while (clock_.sleep_until(clock_.now() + std::chrono::seconds(1), stop)) {
        try {
            observe(false);
        } catch (const std::exception& e) {  // this tick's messages are lost; the next tries again
            spdlog::warn("mqtt: the status could not be published: {}", e.what());
        }
    }
}

std::size_t MqttRunStatus::finish(const std::stop_token& abort) {
    if (finished_) return 0;
    finished_ = true;
    watcher_.request_stop();
    if (watcher_.joinable()) watcher_.join();
    try {
        observe(true);
    } catch (const std::exception& e) {
        spdlog::warn("mqtt: the final status could not be published: {}", e.what());
    }
    {
        const std::lock_guard lock(reports_mutex_);
        reports_.clear();  // the pipelines may go now
    }
    const std::size_t unsent = outbox_.close(std::chrono::seconds(2), abort);
    const std::uint64_t lost = unsent + outbox_.dropped();
    if (lost > 0)
        spdlog::warn("mqtt: {} status message(s) (availability, statistics, signal) could not be delivered", lost);
    return static_cast<std::size_t>(lost);
}

}  // namespace framepipe::stages
