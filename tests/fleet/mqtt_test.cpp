// MQTT (`mqtt:` in a pipeline file, the mqtt stage) against a real mosquitto started on 127.0.0.1 by the test: motion
// events published in order while the broker is stopped for 5 s and started again (the outbox keeps them), a camera's
// signal lost and back when its stream's server dies and returns, the run's statistics, availability online and then
// offline by the last will when framepipe is SIGKILLed, and what is refused before it runs.
#include "support/framepipe_command.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A mosquitto of the test's own on a free loopback port, keeping sessions across restarts (persistence), as a
// production broker does.
class Broker {
public:
    /// `tls`: the listener speaks TLS only, with the certificate made by make_certificates() (signed by ca.pem).
    explicit Broker(const TempDir& dir, bool tls = false) : dir_(dir.path()), port_(free_port()) {
        fs::create_directories(dir_ / "broker");
        // Started as root, mosquitto drops to its own user: it must reach the folder and write in it to keep sessions.
        fs::permissions(dir_, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
        fs::permissions(dir_ / "broker", fs::perms::all);
        std::ofstream(dir_ / "broker.conf") << fmt::format(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n{}", port_,
            (dir_ / "broker").string(),
            tls ? "cafile ca.pem\ncertfile server.pem\nkeyfile server.key\n" : "");
        if (tls) client_options_ = " --cafile ca.pem -h 127.0.0.1";
        start();
    }
    void start() {
        process_ = std::make_unique<Process>(fmt::format("mosquitto -c '{}'", (dir_ / "broker.conf").string()), dir_);
        const auto until = std::chrono::steady_clock::now() + 30s;  // a safety bound, not a measure
        while (run_bounded(fmt::format("mosquitto_pub -p {}{} -t probe -m x", port_, client_options_), dir_, 5s).code !=
               0) {
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, "mosquitto did not start");
            std::this_thread::sleep_for(50ms);
        }
    }
    void stop() {
        process_->kill(SIGTERM);  // saves its sessions on the way out
        process_.reset();
    }
    [[nodiscard]] int port() const { return port_; }
    /// What mosquitto_sub and mosquitto_pub need to reach it (TLS: the CA).
    [[nodiscard]] const std::string& client_options() const { return client_options_; }

private:
    fs::path dir_;
    int port_;
    std::string client_options_;
    std::unique_ptr<Process> process_;
};

// mosquitto_sub with a persistent session at QoS 1 (it reconnects by itself), writing "topic payload" lines.
std::unique_ptr<Process> subscribe(const Broker& broker, const TempDir& dir, const std::string& topics,
                                   const std::string& file) {
    return std::make_unique<Process>(
        fmt::format("mosquitto_sub -p {}{} -c -i test-subscriber -q 1 {} -v >'{}'", broker.port(),
                    broker.client_options(), topics, file),
        dir.path());
}

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool wait_for_line(const std::string& path, const std::string& text, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;  // a safety bound, not a measure
    while (std::chrono::steady_clock::now() < until) {
        for (const std::string& line : lines_of(path))
            if (line.find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// A CA (ca.pem), a certificate for 127.0.0.1 signed by it (server.pem, server.key), and another CA (other-ca.pem) that
// signed nothing here, made with Debian's openssl in `dir`.
void make_certificates(const TempDir& dir) {
    std::ofstream(dir / "san.ext") << "subjectAltName=IP:127.0.0.1\n";
    for (const std::string command :
         {"openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=framepipe-test-ca",
          "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other",
          "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1",
          "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
          "-extfile san.ext"})
        REQUIRE_MESSAGE(run_bounded(command + " 2>/dev/null", dir.path(), 60s).code == 0, command);
    fs::permissions(dir / "server.key", fs::perms::others_read | fs::perms::group_read, fs::perm_options::add);
}

}  // namespace

TEST_CASE("mqtt: over TLS (mqtts://) with the broker's CA, messages arrive; with a CA that did not sign the broker's "
          "certificate, nothing is sent and the run says so") {
    TempDir dir;
    make_certificates(dir);
    Broker broker(dir, true);
    const auto pipeline = [&](const std::string& ca) {
        std::ofstream(dir / "p.yaml") << fmt::format(
            "source: {{ live: true, frames: 50, fps: 25, width: 160, height: 120 }}\n"
            "mqtt: {{ broker: 'mqtts://127.0.0.1:{}', ca_file: {}, topic_prefix: fp, stats_interval: 1s }}\n"
            "stages:\n  - {{ type: motion }}\n",
            broker.port(), ca);
    };
    const std::string received = dir / "received.txt";
    auto subscriber = subscribe(broker, dir, "-t fp/available -t fp/stats", received);
    std::this_thread::sleep_for(300ms);
    pipeline("ca.pem");
    REQUIRE(run_framepipe("run p.yaml synthetic -q", dir).code == 0);
    CHECK(wait_for_line(received, "fp/available online", 30s));
    CHECK(wait_for_line(received, "\"final\":true", 30s));
    CHECK(wait_for_line(received, "fp/available offline", 30s));

    pipeline("other-ca.pem");
    const CommandResult untrusted = run_framepipe("run p.yaml synthetic -q", dir);
    CHECK(untrusted.code == 0);  // the pipeline is not held up by its publisher
    CAPTURE(untrusted.err);
    CHECK(untrusted.err.find("certificate verify failed") != std::string::npos);
    CHECK(untrusted.err.find("could not be delivered") != std::string::npos);
    subscriber->kill(SIGTERM);
}

TEST_CASE("mqtt: every motion event arrives in order after the broker was stopped for 5 s and started again") {
    TempDir dir;
    Broker broker(dir);
    // 16 s played at its own rate: a box moves for 1 s of every 4 (4 events, at 1, 5, 9 and 13 s).
    REQUIRE(run_bounded("ffmpeg -nostdin -v error -f lavfi -i color=c=black:s=320x240:r=25:d=16 -vf "
                        "\"drawbox=x='mod(t*150,260)':y=80:w=60:h=60:color=white:t=fill:enable='between(mod(t,4),1,2)'\" "
                        "-c:v libx264 -bf 0 -pix_fmt yuv420p cam.mp4",
                        dir.path(), 60s)
                .code == 0);
    std::ofstream(dir / "p.yaml") << fmt::format(
        "source: {{ realtime: true }}\n"
        "mqtt: {{ broker: 'mqtt://127.0.0.1:{}', topic_prefix: fp, update_interval: 1s }}\n"
        "stages:\n"
        "  - {{ type: motion, warmup: 5, cooldown: 1s }}\n",
        broker.port());
    const std::string received = dir / "received.txt";
    auto subscriber = subscribe(broker, dir, "-t fp/events -t fp/cam.mp4/motion -t fp/cam.mp4/available", received);
    std::this_thread::sleep_for(300ms);  // subscribed (the session persists from here on)
    Process run(fmt::format("'{}' run p.yaml cam.mp4 -q 2>run.err", FRAMEPIPE_BINARY), dir.path());
    REQUIRE(wait_for_line(received, "\"type\":\"new\"", 30s));  // the first event has begun
    broker.stop();
    std::this_thread::sleep_for(5s);  // events go on meanwhile, into the outbox
    broker.start();
    REQUIRE(run.wait_for(60s) == std::optional<int>(0));
    REQUIRE(wait_for_line(received, "fp/cam.mp4/available offline", 30s));

    // Events in order: for each event, new, then updates, then end; event numbers 1, 2, 3, 4. QoS 1 is at least
    // once: a message the broker took just before it stopped may come twice (consecutive repeats are one).
    std::vector<std::pair<std::string, std::string>> events;  // (id, type)
    std::vector<std::string> motion;
    for (const std::string& line : lines_of(received)) {
        if (line.rfind("fp/events ", 0) == 0) {
            const json message = json::parse(line.substr(10));
            std::pair<std::string, std::string> event{message["after"]["id"], message["type"]};
            if (events.empty() || events.back() != event || event.second == "update") events.push_back(event);
        } else if (line.rfind("fp/cam.mp4/motion ", 0) == 0) {
            if (motion.empty() || motion.back() != line.substr(18)) motion.push_back(line.substr(18));
        }
    }
    std::vector<std::string> ids;
    for (const auto& [id, type] : events) {
        CAPTURE(id);
        if (type == "new") {
            CHECK(std::find(ids.begin(), ids.end(), id) == ids.end());  // each event begins once
            ids.push_back(id);
        } else {
            REQUIRE(!ids.empty());
            CHECK(id == ids.back());  // an update or end belongs to the event begun last
        }
    }
    CAPTURE(slurp(received));
    REQUIRE(ids.size() == 4);
    for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i].rfind(fmt::format("cam.mp4-{}-", i + 1), 0) == 0);
    std::size_t ends = 0;
    for (const auto& [id, type] : events) ends += type == "end" ? 1 : 0;
    CHECK(ends == 4);
    CHECK(motion == std::vector<std::string>{"ON", "OFF", "ON", "OFF", "ON", "OFF", "ON", "OFF"});
    CHECK(slurp(dir / "run.err").find("could not be delivered") == std::string::npos);  // nothing lost
    subscriber->kill(SIGTERM);
}

TEST_CASE("mqtt: the service and each camera are online while framepipe runs and offline by their last wills when "
          "it is SIGKILLed") {
    TempDir dir;
    Broker broker(dir);
    std::ofstream(dir / "p.yaml") << fmt::format(
        "source: {{ live: true, frames: 0, fps: 25, width: 160, height: 120 }}\n"
        "stages:\n"
        "  - {{ type: motion }}\n"
        "  - {{ type: mqtt, broker: 'mqtt://127.0.0.1:{}', topic_prefix: fp }}\n",  // the stage written out
        broker.port());
    const std::string received = dir / "available.txt";
    auto subscriber = subscribe(broker, dir, "-t fp/available -t fp/synthetic/available", received);
    std::this_thread::sleep_for(300ms);
    Process run(fmt::format("'{}' run p.yaml synthetic -q", FRAMEPIPE_BINARY), dir.path());
    REQUIRE(wait_for_line(received, "fp/synthetic/available online", 30s));
    REQUIRE(wait_for_line(received, "fp/available online", 30s));
    run.kill(SIGKILL);
    CHECK(wait_for_line(received, "fp/synthetic/available offline", 30s));
    CHECK(wait_for_line(received, "fp/available offline", 30s));
    subscriber->kill(SIGTERM);
}

TEST_CASE("mqtt: a camera whose stream's server dies is published as signal lost, then back when the server returns; "
          "the run's statistics name every camera, and the service goes offline when the run ends") {
    TempDir dir;
    Broker broker(dir);
    const int stream_port = free_port();
    const std::string serve = fmt::format(
        "ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=160x120:rate=25 -c:v mjpeg -q:v 5 -f mpjpeg -listen 1 "
        "http://127.0.0.1:{}/live.mjpg",
        stream_port);
    auto server = std::make_unique<Process>(serve, dir.path());
    std::this_thread::sleep_for(300ms);  // listening
    std::ofstream(dir / "p.yaml") << fmt::format(
        "inputs:\n"
        "  - {{ name: gate, path: 'http://127.0.0.1:{}/live.mjpg', read_timeout: 1s, open_timeout: 2s, "
        "backoff_max: 500ms }}\n"
        "  - {{ name: yard, path: synthetic, live: true, frames: 0, fps: 25, width: 160, height: 120 }}\n"
        "mqtt: {{ broker: 'mqtt://127.0.0.1:{}', topic_prefix: fp, stats_interval: 1s }}\n"
        "stages:\n"
        "  - {{ type: resize, width: 80 }}\n",
        stream_port, broker.port());
    const std::string received = dir / "received.txt";
    auto subscriber = subscribe(broker, dir, "-t fp/available -t fp/gate/signal -t fp/stats", received);
    std::this_thread::sleep_for(300ms);
    Process run(fmt::format("'{}' run p.yaml -q 2>run.err", FRAMEPIPE_BINARY), dir.path());
    REQUIRE(wait_for_line(received, "fp/available online", 30s));
    REQUIRE(wait_for_line(received, "\"gate\":{\"camera_fps\"", 30s));  // statistics of the stream, flowing
    server->kill(SIGKILL);
    CHECK(wait_for_line(received, "fp/gate/signal lost", 30s));
    server = std::make_unique<Process>(serve, dir.path());
    CHECK(wait_for_line(received, "fp/gate/signal back", 30s));
    run.kill(SIGINT);
    REQUIRE(run.wait_for(30s) == std::optional<int>(0));
    CHECK(wait_for_line(received, "fp/available offline", 30s));

    // Every statistics message names both cameras; the last one is the run's final one.
    json last;
    for (const std::string& line : lines_of(received))
        if (line.rfind("fp/stats ", 0) == 0) {
            last = json::parse(line.substr(9));
            CHECK(last["cameras"].contains("gate"));
            CHECK(last["cameras"].contains("yard"));
        }
    CAPTURE(slurp(received));
    REQUIRE(last.is_object());
    CHECK(last["service"]["final"] == true);
    CHECK(last["cameras"]["yard"]["captured"].get<std::uint64_t>() > 0);
    // lost then back, once each
    std::vector<std::string> signal;
    for (const std::string& line : lines_of(received))
        if (line.rfind("fp/gate/signal ", 0) == 0) signal.push_back(line.substr(15));
    CHECK(signal == std::vector<std::string>{"lost", "back"});
    server->kill(SIGTERM);
    subscriber->kill(SIGTERM);
}

TEST_CASE("mqtt: a password in the broker URL, a missing password variable and a bad port are refused before running") {
    TempDir dir;
    const auto run_with = [&](const std::string& options) {
        std::ofstream(dir / "p.yaml") << "stages:\n  - { type: motion }\n  - { type: mqtt, " << options << " }\n";
        return run_framepipe("run p.yaml synthetic -q --set source.frames=5", dir);
    };
    const CommandResult in_url = run_with("broker: 'mqtt://user:hunter2@127.0.0.1:1883'");
    CHECK(in_url.code == 2);
    CHECK(in_url.err.find("password_env") != std::string::npos);
    CHECK(in_url.err.find("hunter2") == std::string::npos);
    const CommandResult no_variable =
        run_with("broker: 'mqtt://user@127.0.0.1:1883', password_env: FRAMEPIPE_TEST_NO_SUCH_VARIABLE");
    CHECK(no_variable.code == 2);
    CHECK(no_variable.err.find("FRAMEPIPE_TEST_NO_SUCH_VARIABLE") != std::string::npos);
    const CommandResult no_tls = run_with("broker: 'mqtt://127.0.0.1:1883', ca_file: p.yaml");
    CHECK(no_tls.code == 2);
    CHECK(no_tls.err.find("mqtts://") != std::string::npos);
    const CommandResult no_ca = run_with("broker: 'mqtts://127.0.0.1', ca_file: no-such-ca.pem");
    CHECK(no_ca.code == 2);
    CHECK(no_ca.err.find("no-such-ca.pem") != std::string::npos);
    const CommandResult bad_port = run_with("broker: 'mqtt://127.0.0.1:99999'");
    CHECK(bad_port.code == 2);
    CHECK(bad_port.err.find("port") != std::string::npos);

    // `mqtt:` at the top: the stage's options, checked at their line; and not beside a stage of its own
    std::ofstream(dir / "top.yaml") << "stages:\n  - { type: motion }\nmqtt: { broker: 'mqtt://127.0.0.1:1883', "
                                       "topic_prefx: fp }\n";
    const CommandResult misspelt = run_framepipe("run top.yaml synthetic -q --set source.frames=5", dir);
    CHECK(misspelt.code == 2);
    CHECK(misspelt.err.find("top.yaml:3") != std::string::npos);
    CHECK(misspelt.err.find("did you mean 'topic_prefix'") != std::string::npos);
    std::ofstream(dir / "both.yaml") << "stages:\n  - { type: motion }\n  - { type: mqtt }\nmqtt: { topic_prefix: fp }\n";
    const CommandResult both = run_framepipe("run both.yaml synthetic -q --set source.frames=5", dir);
    CHECK(both.code == 2);
    CHECK(both.err.find("keep one") != std::string::npos);
}
