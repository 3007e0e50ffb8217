#include "mqtt_outbox.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace framepipe::stages {
namespace {

const bool library_ready = [] {
    mosquitto_lib_init();
    return true;
}();

}  // namespace

MqttBroker MqttBroker::parse(const std::string& url, std::string& user) {
    MqttBroker broker;
    std::string rest;
    if (url.rfind("mqtt://", 0) == 0) {
        rest = url.substr(7);
    } else if (url.rfind("mqtts://", 0) == 0) {
        rest = url.substr(8);
        broker.tls = true;
        broker.port = 8883;
    } else {
        throw ConfigError(fmt::format("broker must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS), got '{}'", url));
    }
    if (const auto at = rest.find('@'); at != std::string::npos) {
        user = rest.substr(0, at);
        if (user.find(':') != std::string::npos)
            throw ConfigError("broker: put no password in the URL; give it in the environment (password_env)");
        rest = rest.substr(at + 1);
    }
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        const std::string port = rest.substr(colon + 1);
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
            throw ConfigError(fmt::format("broker: the port must be 1 to 65535, got '{}'", port));
        broker.port = value;
        rest.resize(colon);
    }
    if (rest.empty()) throw ConfigError("broker: the URL names no host");
    broker.host = rest;
    return broker;
}

MqttOutbox::MqttOutbox(MqttOptions options) : options_(std::move(options)) {
    (void)library_ready;
    client_ = mosquitto_new(options_.client_id.c_str(), true, this);
    if (client_ == nullptr) throw Error("mqtt: cannot make a client (out of memory)");
    mosquitto_connect_callback_set(client_, &MqttOutbox::on_connect);
    mosquitto_disconnect_callback_set(client_, &MqttOutbox::on_disconnect);
    mosquitto_publish_callback_set(client_, &MqttOutbox::on_publish);
    mosquitto_log_callback_set(client_, &MqttOutbox::on_log);
    mosquitto_reconnect_delay_set(client_, 1, 5, false);
    const std::string offline = "offline";
    mosquitto_will_set(client_, options_.availability_topic.c_str(), static_cast<int>(offline.size()), offline.data(),
                       1, true);
    if (options_.broker.tls) {
        const bool own_ca = !options_.ca_file.empty();
        const int rc = mosquitto_tls_set(client_, own_ca ? options_.ca_file.c_str() : nullptr,
                                         own_ca ? nullptr : "/etc/ssl/certs", nullptr, nullptr, nullptr);
        if (rc != MOSQ_ERR_SUCCESS) {
            mosquitto_destroy(client_);
            throw ConfigError(fmt::format("mqtt: cannot use TLS with {}: {}",
                                          own_ca ? "ca_file '" + options_.ca_file + "'" : "the system's CA certificates",
                                          mosquitto_strerror(rc)));
        }
    }
    if (!options_.username.empty())
        mosquitto_username_pw_set(client_, options_.username.c_str(),
                                  options_.password.empty() ? nullptr : options_.password.c_str());
    // connect_async: an unreachable broker is not an error here; the loop thread keeps trying.
    const int rc = mosquitto_connect_async(client_, options_.broker.host.c_str(), options_.broker.port, 30);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO && rc != MOSQ_ERR_CONN_REFUSED)
        spdlog::warn("mqtt {}:{}: {}; retrying in the background", options_.broker.host, options_.broker.port,
                     mosquitto_strerror(rc));
    if (mosquitto_loop_start(client_) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(client_);
        throw Error("mqtt: cannot start the client's thread");
    }
}

MqttOutbox::~MqttOutbox() {
    if (client_ == nullptr) return;
    mosquitto_disconnect(client_);
    mosquitto_loop_stop(client_, true);
    mosquitto_destroy(client_);
}

void MqttOutbox::on_connect(struct mosquitto* client, void* self, int rc) {
    auto& box = *static_cast<MqttOutbox*>(self);
    if (rc != 0) {
        spdlog::warn("mqtt {}:{}: the broker refused the connection: {}", box.options_.broker.host,
                     box.options_.broker.port, mosquitto_connack_string(rc));
        return;
    }
    const std::string online = "online";
    mosquitto_publish(client, nullptr, box.options_.availability_topic.c_str(), static_cast<int>(online.size()),
                      online.data(), 1, true);
    const std::lock_guard lock(box.mutex_);
    box.failure_said_ = false;
    box.connected_ = true;
    box.in_flight_ = false;  // what was in flight before is sent again
    box.send_next();
}

void MqttOutbox::on_log(struct mosquitto*, void* self, int level, const char* text) {
    if ((level & MOSQ_LOG_ERR) == 0 || text == nullptr) return;
    auto& box = *static_cast<MqttOutbox*>(self);
    {
        const std::lock_guard lock(box.mutex_);
        if (box.failure_said_) return;  // once per outage
        box.failure_said_ = true;
    }
    spdlog::warn("mqtt {}:{}: {}; retrying in the background", box.options_.broker.host, box.options_.broker.port, text);
}

void MqttOutbox::on_disconnect(struct mosquitto*, void* self, int) {
    auto& box = *static_cast<MqttOutbox*>(self);
    const std::lock_guard lock(box.mutex_);
    box.connected_ = false;
    box.in_flight_ = false;
}

void MqttOutbox::on_publish(struct mosquitto*, void* self, int mid) {
    auto& box = *static_cast<MqttOutbox*>(self);
    const std::lock_guard lock(box.mutex_);
    if (!box.in_flight_ || mid != box.in_flight_mid_) return;  // the "online" message, or an older try
    box.in_flight_ = false;
    box.outbox_.pop_front();
    box.send_next();
    if (box.outbox_.empty()) box.drained_.notify_all();
}

void MqttOutbox::send_next() {
    while (connected_ && !in_flight_ && !outbox_.empty()) {
        const MqttMessage& message = outbox_.front();
        int mid = 0;
        const int rc = mosquitto_publish(client_, &mid, message.topic.c_str(), static_cast<int>(message.payload.size()),
                                         message.payload.data(), 1, message.retain);
        if (rc == MOSQ_ERR_SUCCESS) {
            in_flight_ = true;
            in_flight_mid_ = mid;
            return;
        }
        if (rc != MOSQ_ERR_INVAL && rc != MOSQ_ERR_MALFORMED_UTF8 && rc != MOSQ_ERR_PAYLOAD_SIZE &&
            rc != MOSQ_ERR_OVERSIZE_PACKET)
            return;  // the connection is going: the message is sent after the next connect
        // Refused for good (a topic that is not valid UTF-8, a payload too big): it would block every message behind it.
        spdlog::warn("mqtt: a message to '{}' was refused ({}); dropped", message.topic, mosquitto_strerror(rc));
        outbox_.pop_front();
        ++dropped_;
    }
}

void MqttOutbox::publish(MqttMessage message) {
    const std::lock_guard lock(mutex_);
    if (closing_) return;
    if (outbox_.size() >= options_.capacity) {
        if (in_flight_ && outbox_.size() > 1) {
            outbox_.erase(outbox_.begin() + 1);  // the oldest not yet sent
        } else if (!in_flight_) {
            outbox_.pop_front();
        } else {
            ++dropped_;
            return;
        }
        ++dropped_;
    }
    outbox_.push_back(std::move(message));
    send_next();
}

std::size_t MqttOutbox::close(std::chrono::milliseconds linger, const std::stop_token& abort) {
    publish({options_.availability_topic, "offline", true});
    std::unique_lock lock(mutex_);
    closing_ = true;
    const auto until = std::chrono::steady_clock::now() + linger;
    while (!outbox_.empty() && !abort.stop_requested() && std::chrono::steady_clock::now() < until)
        drained_.wait_for(lock, std::chrono::milliseconds(50));
    const std::size_t left = outbox_.size();
    const bool connected = connected_;
    lock.unlock();
    mosquitto_disconnect(client_);
    // Not connected, the client's thread may sit in a connect() to a broker that does not answer: it is cancelled
    // rather than waited for, so closing stays bounded.
    mosquitto_loop_stop(client_, !connected);
    mosquitto_destroy(client_);
    client_ = nullptr;
    return left;
}

std::uint64_t MqttOutbox::dropped() const {
    const std::lock_guard lock(mutex_);
    return dropped_;
}

bool MqttOutbox::connected() const {
    const std::lock_guard lock(mutex_);
    return connected_;
}

}  // namespace framepipe::stages
