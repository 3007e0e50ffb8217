#pragma once
// An MQTT connection (libmosquitto) with a bounded outbox in front of it, for stages that publish from the pipeline.
//
// publish() never blocks and never fails: the message goes into the outbox (at most `capacity` messages; when full
// the oldest is dropped and counted). A thread of libmosquitto's own connects, reconnects with backoff whenever the
// broker goes away, and sends the outbox's messages one at a time, in order, each at QoS 1: a message leaves the
// outbox only when the broker has acknowledged it (PUBACK), so what was queued while the broker was down, or sent
// just before it went, is sent (again) after it is back: at least once, in order. On connect the availability topic
// gets `online` (retained); the broker publishes the last will, `offline`, when the connection dies without a goodbye
// (the process killed), and close() publishes `offline` itself.
//
// Thread-safety: publish(), dropped() and connected() from any thread; close() once, from one thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stop_token>
#include <string>

struct mosquitto;

namespace framepipe::stages {

struct MqttBroker {
    std::string host = "127.0.0.1";
    int port = 1883;
    bool tls = false;  // mqtts://: TLS, the broker's certificate checked against a CA and its name against host
    /// Parses mqtt://[USER@]HOST[:PORT] (port 1883) or mqtts://... (port 8883). Throws ConfigError.
    static MqttBroker parse(const std::string& url, std::string& user);
};

struct MqttOptions {
    MqttBroker broker;
    std::string client_id;
    std::string username;
    std::string password;           // from the environment; never printed
    std::string ca_file;            // mqtts://: the CA certificate (PEM) to trust; empty: the system's (/etc/ssl/certs)
    std::string availability_topic; // online / offline (retained; offline is also the last will)
    std::size_t capacity = 1000;
};

struct MqttMessage {
    std::string topic;
    std::string payload;
    bool retain = false;
};

class MqttOutbox {
public:
    explicit MqttOutbox(MqttOptions options);
    ~MqttOutbox();
    MqttOutbox(const MqttOutbox&) = delete;
    MqttOutbox& operator=(const MqttOutbox&) = delete;

    void publish(MqttMessage message);
    /// Sends `offline`, waits up to `linger` (or until `abort`) for the outbox to empty, then disconnects. Returns the
    /// messages still unsent (lost).
    std::size_t close(std::chrono::milliseconds linger, const std::stop_token& abort);
    [[nodiscard]] std::uint64_t dropped() const;
    [[nodiscard]] bool connected() const;

private:
    static void on_connect(struct mosquitto* client, void* self, int rc);
    static void on_disconnect(struct mosquitto* client, void* self, int rc);
    static void on_publish(struct mosquitto* client, void* self, int mid);
    static void on_log(struct mosquitto* client, void* self, int level, const char* text);
    void send_next();  // with mutex_ held

    MqttOptions options_;
    struct mosquitto* client_ = nullptr;
    mutable std::mutex mutex_;
    std::condition_variable drained_;
    std::deque<MqttMessage> outbox_;
    bool connected_ = false;
    bool in_flight_ = false;  // the front message was sent, its PUBACK not yet in
    int in_flight_mid_ = -1;
    bool closing_ = false;
    bool failure_said_ = false;  // a connection failure was logged since the last connect
    std::uint64_t dropped_ = 0;
};

}  // namespace framepipe::stages
