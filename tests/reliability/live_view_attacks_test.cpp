// The live view under attack, with the framepipe command as a user runs it (pipelines/webcam_live.yaml on the
// synthetic camera): clients that send their request a byte at a time, viewers that never read, a flood of viewers,
// Ctrl-C in the middle of it all, and a listen address off loopback. Attackers connect from other loopback addresses
// (127.0.x.y), as other machines would; every wait is bounded by a safety timeout, so a hang fails a check.
#include "support/command.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <memory>
#include <signal.h>
#include <thread>
#include <vector>

using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

std::string webcam_live() { return std::string(FRAMEPIPE_SOURCE_DIR) + "/pipelines/webcam_live.yaml"; }

std::string framepipe_command(const TempDir& dir, const std::string& listen, const std::string& extra) {
    return fmt::format("'{}' run -q '{}' synthetic --set source.live=true --set source.frames=0 --set view.listen={} "
                       "--set thumbs.dir='{}' {} > '{}' 2> '{}'",
                       FRAMEPIPE_BINARY, webcam_live(), listen, dir / "thumbs", extra, dir / "out.txt",
                       dir / "err.txt");
}

/// framepipe serving the live view on 127.0.0.1:<port> (or `listen`), up once /stats.json answers (with `auth`): the
/// run has started and published its first progress.
class LiveFramepipe {
public:
    LiveFramepipe(const TempDir& dir, int port, const std::string& extra, const std::string& listen = "",
                  const std::string& env = "", const RequestOptions& auth = {})  // env: "env NAME=VALUE"
        : process_(env + " " + framepipe_command(dir, listen.empty() ? fmt::format("127.0.0.1:{}", port) : listen,
                                                 extra)),
          dir_(dir) {
        up_ = eventually([&] { return http_get(port, "/stats.json", 1s, auth).status == 200 || !process_.running(); }) &&
              process_.running();
    }
    [[nodiscard]] bool up() const { return up_; }
    /// Ctrl-C, then the exit status; nullopt when it had not exited after the safety bound (then it is killed).
    std::optional<int> interrupt() {
        process_.kill(SIGINT, /*wait=*/false);
        return process_.wait_for(30s);
    }
    [[nodiscard]] std::string err() const { return slurp(dir_ / "err.txt"); }

private:
    Process process_;
    const TempDir& dir_;
    bool up_ = false;
};

/// Connections that each sent the start of a request head and send one more byte every 100 ms, from a thread.
class Tricklers {
public:
    Tricklers(int port, int count, int first_address) {
        for (int i = 0; i < count; ++i) {
            clients_.push_back(std::make_unique<RawConnection>(port, fmt::format("127.0.1.{}", first_address + i)));
            clients_.back()->send("GET /metrics HTTP/1.1\r\nX-Slow: ");
        }
        thread_ = std::jthread([this](const std::stop_token& stop) {
            while (!stop.stop_requested()) {
                for (auto& client : clients_) client->send("a");
                std::this_thread::sleep_for(100ms);
            }
        });
    }
    /// Stops sending and reads each connection until the server closes it: how many it closed (and what they got).
    int closed_by_server(std::chrono::milliseconds limit_each) {
        thread_.request_stop();
        thread_.join();
        int closed = 0;
        for (auto& client : clients_) closed += client->read_until_closed(limit_each) ? 1 : 0;
        return closed;
    }

private:
    std::vector<std::unique_ptr<RawConnection>> clients_;
    std::jthread thread_;
};

}  // namespace

TEST_CASE("live view attacks: Ctrl-C while a client sends its request a byte at a time and a viewer never reads: "
          "framepipe exits 0 and the server closes them, whatever their timeouts") {
    TempDir dir;
    const int port = free_port();
    // Timeouts far beyond the test: only stopping itself can end these clients.
    LiveFramepipe run(dir, port, "--set view.request_timeout=60s --set view.write_timeout=60s");
    REQUIRE(run.up());
    Tricklers slow(port, 1, 1);
    StalledViewer stalled(port, "/stream.mjpg");
    MjpegReader viewer(port, "/stream.mjpg");
    REQUIRE(viewer.status() == 200);
    REQUIRE(viewer.next_part().has_value());

    const std::optional<int> code = run.interrupt();
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(slow.closed_by_server(10s) == 1);
    while (viewer.next_part()) {
    }
}

TEST_CASE("live view attacks: 30 clients trickling their requests from 30 addresses and 200 viewers that never read "
          "from 25: every /metrics and /stats.json is answered, a new viewer is answered and then served, and Ctrl-C "
          "exits 0") {
    TempDir dir;
    const int port = free_port();
    LiveFramepipe run(dir, port, "--set view.request_timeout=60s --set view.write_timeout=1s");
    REQUIRE(run.up());
    Tricklers slow(port, 30, 1);
    std::vector<std::unique_ptr<RawConnection>> flood;
    for (int i = 0; i < 200; ++i) {
        flood.push_back(std::make_unique<RawConnection>(port, fmt::format("127.0.2.{}", 1 + i % 25)));
        flood.back()->send(fmt::format("GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", port));
    }
    int answered = 0;
    for (int i = 0; i < 20; ++i) {
        answered += http_get(port, "/metrics").status == 200 ? 1 : 0;
        answered += http_get(port, "/stats.json").status == 200 ? 1 : 0;
    }
    CHECK(answered == 40);
    // The flood holds every viewer slot: a new viewer is answered at once (503) until the stalled ones are dropped
    // after the write timeout, then it gets pictures.
    const int status = MjpegReader(port, "/stream.mjpg").status();
    CHECK((status == 200 || status == 503));
    CHECK(eventually([&] {
        MjpegReader viewer(port, "/stream.mjpg");
        return viewer.status() == 200 && viewer.next_part().has_value();
    }));
    const std::string metrics = "\n" + http_get(port, "/metrics").body;
    CHECK(metrics.find("\nframepipe_live_view_connections_refused_total{reason=\"viewer_limit\"} 0\n") ==
          std::string::npos);

    const std::optional<int> code = run.interrupt();
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(slow.closed_by_server(10s) == 30);
}

TEST_CASE("live view attacks: off loopback without a token framepipe refuses to start (exit 2) and says how to set "
          "one; with FRAMEPIPE_LIVE_TOKEN it warns, never prints the token, and answers only requests carrying it") {
    TempDir dir;
    const int port = free_port();
    const CommandResult refused =
        run_bounded(framepipe_command(dir, fmt::format("0.0.0.0:{}", port), "") + "; code=$?; cat '" + dir / "err.txt" +
                        "' >&2; exit $code",
                    dir.path(), 60s);
    CHECK_FALSE(refused.timed_out);
    CHECK(refused.code == 2);
    CHECK(refused.err.find("FRAMEPIPE_LIVE_TOKEN") != std::string::npos);

    const std::string token = "correct-horse-battery-staple";
    const RequestOptions auth{.headers = {"Authorization: Bearer " + token}};
    LiveFramepipe run(dir, port, "", fmt::format("0.0.0.0:{}", port), "env FRAMEPIPE_LIVE_TOKEN=" + token, auth);
    REQUIRE(run.up());
    CHECK(http_get(port, "/metrics").status == 401);
    CHECK(http_get(port, "/snapshot.jpg").status == 401);
    CHECK(http_get(port, "/snapshot.jpg?token=" + token).status == 200);
    const std::optional<int> code = run.interrupt();
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    const std::string err = run.err();
    CHECK(err.find("reachable from other machines") != std::string::npos);
    CHECK(err.find("FRAMEPIPE_LIVE_TOKEN") != std::string::npos);
    CHECK(err.find(token) == std::string::npos);
}
