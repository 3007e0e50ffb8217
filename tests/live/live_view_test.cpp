// The live view, served on 127.0.0.1 while a live synthetic source runs: MJPEG parts that decode to the newest frames,
// a fresh snapshot, the live report as JSON and Prometheus text, several inputs on one server, and viewers that stop
// reading: they are disconnected after the write timeout while the pipeline goes on publishing. Then the server's
// bounds, each on its own (small limits, clients on other loopback addresses as other machines would be): a request
// head bounded in total time and size, connections per client and in all, viewers past their cap, stopping with
// clients mid-request and mid-stream, and the token.
#include "live/live_view_server.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <future>
#include <netinet/in.h>
#include <regex>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

/// A pipeline running on its own thread: live synthetic inputs, each ending in a live_view stage on one port.
class LiveRun {
public:
    LiveRun(int port, std::vector<std::string> inputs, std::map<std::string, std::string> view_options = {},
            cv::Size size = {320, 240}) {
        view_options["listen"] = fmt::format("127.0.0.1:{}", port);
        for (const std::string& name : inputs)
            pipeline_
                .add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                    .width = size.width, .height = size.height, .frames = 0, .fps = 30, .live = true, .name = name}))
                .add(make_stage("live_view", view_options));
        thread_ = std::thread([this] {
            try {
                report_ = pipeline_.run();
            } catch (const std::exception& e) {
                failure_ = e.what();
            }
        });
        // Up once the page shows every input's stream.
        for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
            const std::string page = http_get(port, "/", 1s).body;
            if (!failure_.empty() || std::all_of(inputs.begin(), inputs.end(), [&](const std::string& name) {
                    return page.find("/stream.mjpg?name=" + name + "\"") != std::string::npos;
                }))
                break;
            std::this_thread::sleep_for(20ms);
        }
    }
    ~LiveRun() { stop(); }

    /// Stops the run and returns its report.
    const RunReport& stop() {
        if (thread_.joinable()) {
            pipeline_.request_stop();
            thread_.join();
        }
        return report_;
    }
    [[nodiscard]] const std::string& failure() const { return failure_; }

private:
    Pipeline pipeline_;
    std::thread thread_;
    RunReport report_;
    std::string failure_;
};

/// The value of a Prometheus sample line `name{labels} value`, or -1 when the page has no such line.
double metric(const std::string& page, const std::string& series) {
    const auto at = page.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(page.substr(at + series.size() + 2));
}

}  // namespace

TEST_CASE("live_view: a viewer receives MJPEG parts that decode to the newest frames, in order, until the run stops") {
    const int port = free_port();
    LiveRun run(port, {"synthetic"}, {{"max_fps", "0"}});
    REQUIRE(run.failure().empty());

    MjpegReader viewer(port, "/stream.mjpg");
    REQUIRE(viewer.status() == 200);
    CHECK(viewer.content_type() == "multipart/x-mixed-replace; boundary=framepipe");
    std::int64_t previous = -1;
    for (int part = 0; part < 30; ++part) {
        const auto jpeg = viewer.next_part();
        REQUIRE(jpeg.has_value());
        const cv::Mat picture = decode_picture(*jpeg);
        REQUIRE(!picture.empty());
        CHECK(picture.cols == 320);
        CHECK(picture.rows == 240);
        const std::int64_t number = SyntheticSource::burned_number_of(picture);
        CAPTURE(part);
        CHECK(number > previous);
        previous = number;
    }
    const RunReport& report = run.stop();
    REQUIRE(report.ok());
    CHECK(report.sources[0].delivered == report.sources[0].captured - report.sources[0].dropped());
    // The run is over: the stream ends instead of hanging.
    while (viewer.next_part()) {
    }
}

TEST_CASE("live_view: the snapshot is a fresh JPEG, stats.json is the live report and /metrics is Prometheus text") {
    const int port = free_port();
    LiveRun run(port, {"synthetic"});
    REQUIRE(run.failure().empty());

    const HttpResponse snapshot = http_get(port, "/snapshot.jpg");
    REQUIRE(snapshot.status == 200);
    CHECK(snapshot.content_type == "image/jpeg");
    const cv::Mat picture = decode_picture(snapshot.body);
    REQUIRE(!picture.empty());
    CHECK(SyntheticSource::burned_number_of(picture) >= 0);

    // The live report refreshes about once a second: wait until it has counted frames through the whole chain (and so
    // their end-to-end latency); /metrics, asked later, shows that snapshot or a newer one.
    nlohmann::json stats;
    CHECK(eventually([&] {
        const HttpResponse r = http_get(port, "/stats.json");
        if (r.status != 200) return false;
        stats = nlohmann::json::parse(r.body);
        return stats["sources"][0]["captured"].get<int>() > 0 && stats["sources"][0]["delivered"].get<int>() > 0;
    }));
    CHECK(stats["schema"] == "framepipe-report/3");
    CHECK(stats["finished"] == false);
    CHECK(stats["sources"][0]["name"] == "synthetic");
    CHECK(stats["sources"][0]["edges"].size() == 1);

    const HttpResponse metrics = http_get(port, "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
    const std::string page = "\n" + metrics.body;
    CHECK(metric(page, R"(framepipe_source_frames_captured_total{source="synthetic"})") > 0);
    CHECK(metric(page, R"(framepipe_stage_frames_processed_total{source="synthetic",stage="live_view"})") > 0);
    CHECK(metric(page, R"(framepipe_end_to_end_latency_seconds{source="synthetic",quantile="0.99"})") > 0);
    CHECK(metric(page, R"(framepipe_live_view_viewers{stream="synthetic"})") == 0);
    CHECK(metric(page, R"(framepipe_live_view_pictures_total{stream="synthetic"})") >= 1);
    // Every line is a comment or `name{labels} number`.
    const std::regex sample(R"(^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$)");
    std::istringstream lines(metrics.body);
    for (std::string line; std::getline(lines, line);) {
        CAPTURE(line);
        CHECK((line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0 || std::regex_match(line, sample)));
    }

    const HttpResponse unknown = http_get(port, "/snapshot.jpg?name=garage");
    CHECK(unknown.status == 404);
    CHECK(unknown.body.find("streams: synthetic") != std::string::npos);
    REQUIRE(run.stop().ok());
}

TEST_CASE("live_view: several inputs share one server, one stream each, all on the page") {
    const int port = free_port();
    LiveRun run(port, {"porch", "garage"});
    REQUIRE(run.failure().empty());
    const HttpResponse page = http_get(port, "/");
    CHECK(page.body.find("/stream.mjpg?name=porch") != std::string::npos);
    CHECK(page.body.find("/stream.mjpg?name=garage") != std::string::npos);
    MjpegReader garage(port, "/stream.mjpg?name=garage");
    REQUIRE(garage.status() == 200);
    const auto jpeg = garage.next_part();
    REQUIRE(jpeg.has_value());
    CHECK(!decode_picture(*jpeg).empty());
    REQUIRE(run.stop().ok());
}

TEST_CASE("live_view: a viewer that stops reading is disconnected after the write timeout, and meanwhile the pipeline "
          "goes on publishing to the others") {
    const int port = free_port();
    // Large pictures, so that the stalled viewer's socket buffers fill after a few.
    LiveRun run(port, {"synthetic"}, {{"max_fps", "0"}, {"write_timeout", "1s"}, {"quality", "100"}}, {1280, 720});
    REQUIRE(run.failure().empty());

    MjpegReader reader(port, "/stream.mjpg");
    REQUIRE(reader.status() == 200);
    std::string page;
    {
        StalledViewer stalled(port, "/stream.mjpg");
        std::uint64_t received = 0;
        // Keep watching with the reading viewer until the stalled one has been dropped.
        const bool dropped = eventually([&] {
            for (int i = 0; i < 5; ++i)
                if (reader.next_part()) ++received;
            page = "\n" + http_get(port, "/metrics").body;
            return metric(page, R"(framepipe_live_view_viewers_dropped_total{stream="synthetic"})") == 1;
        });
        REQUIRE(dropped);
        CHECK(metric(page, R"(framepipe_live_view_viewers{stream="synthetic"})") == 1);  // the reader is still on
        // What the stalled viewer got is at most what was sent in all minus what the reader received; the pipeline
        // published more than twice that: most of its pictures went out while the stalled viewer was stuck (a pipeline
        // held up by it would have published about as many as it got). And the reader got more than the stalled viewer
        // could have. Counts, not rates: under ThreadSanitizer, beside another test, the 1280x720 encoder made 20
        // pictures in the write timeout's second, not 30.
        const double published = metric(page, R"(framepipe_live_view_pictures_total{stream="synthetic"})");
        const double sent = metric(page, R"(framepipe_live_view_parts_sent_total{stream="synthetic"})");
        const double stalled_got_at_most = sent - static_cast<double>(received);
        CAPTURE(published);
        CAPTURE(sent);
        CAPTURE(received);
        CHECK(published - stalled_got_at_most >= published / 2);
        CHECK(static_cast<double>(received) > stalled_got_at_most);
    }
    REQUIRE(reader.next_part().has_value());  // still served
    REQUIRE(run.stop().ok());
}

TEST_CASE("live_view: a port already in use fails the run's start with an error naming the address") {
    const int port = free_port();
    const int blocker = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(bind(blocker, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(blocker, 1) == 0);

    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{.frames = 5}))
        .add(make_stage("live_view", {{"listen", fmt::format("127.0.0.1:{}", port)}}));
    const std::string expected = fmt::format("cannot listen on 127.0.0.1:{}", port);
    CHECK_THROWS_WITH_AS(pipeline.run(), doctest::Contains(expected.c_str()), Error);
    close(blocker);

    CHECK_THROWS_WITH_AS(make_stage("live_view", {{"listen", "localhost:http"}}), doctest::Contains("host:port"),
                         ConfigError);
}

namespace {

using live::LiveViewServer;

/// A server of its own on a free port of 127.0.0.1 with `settings`' limits, and one stream ("cam") fed with a small
/// fake picture every 10 ms while the object lives (the server does not look inside pictures).
class TestServer {
public:
    explicit TestServer(LiveViewServer::Settings settings, std::size_t picture_bytes = 1000) {
        settings.host = "127.0.0.1";
        settings.port = 0;
        server_ = LiveViewServer::acquire(settings, nullptr);
        stream_ = server_->add_stream("cam");
        publisher_ = std::jthread([this, picture_bytes](const std::stop_token& stop) {
            for (int n = 0; !stop.stop_requested(); ++n) {
                stream_->publish(std::string(picture_bytes, static_cast<char>('a' + n % 26)));
                std::this_thread::sleep_for(10ms);
            }
        });
    }
    ~TestServer() { stop(); }
    /// Stops publishing and destroys the server (what the last live_view stage's close does).
    void stop() {
        if (publisher_.joinable()) {
            publisher_.request_stop();
            publisher_.join();
        }
        stream_.reset();
        server_.reset();
    }
    [[nodiscard]] int port() const { return server_->port(); }
    [[nodiscard]] double metric(const std::string& series) const {
        return ::metric("\n" + http_get(port(), "/metrics").body, series);
    }

private:
    std::shared_ptr<LiveViewServer> server_;
    std::shared_ptr<live::LatestPicture> stream_;
    std::jthread publisher_;
};

std::string refused(const char* reason) {
    return fmt::format("framepipe_live_view_connections_refused_total{{reason=\"{}\"}}", reason);
}

/// Sends one more byte of a request head every 20 ms until the server answers and closes (or 10 s pass).
bool trickle_until_closed(RawConnection& client) {
    for (int i = 0; i < 500; ++i) {
        if (!client.send("a")) return client.read_until_closed(10s);
        if (client.read_until_closed(20ms)) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("live view server: a request head not whole within request_timeout is answered 408 and closed, though it "
          "keeps arriving byte by byte") {
    LiveViewServer::Settings settings;
    settings.request_timeout = 300ms;
    TestServer server(settings);
    RawConnection client(server.port());
    REQUIRE(client.send("GET /metrics HTTP/1.1\r\nX-Slow: "));
    CHECK(trickle_until_closed(client));
    CHECK(client.status() == 408);
    CHECK(server.metric(refused("request_timeout")) == 1);
    CHECK(http_get(server.port(), "/metrics").status == 200);  // the server goes on answering
}

TEST_CASE("live view server: a request head larger than max_request_bytes is answered 431") {
    LiveViewServer::Settings settings;
    settings.max_request_bytes = 1024;
    TestServer server(settings);
    RawConnection client(server.port());
    REQUIRE(client.send("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(2000, 'b')));
    CHECK(client.read_until_closed(10s));
    CHECK(client.status() == 431);
    const HttpResponse fits = http_get(server.port(), "/metrics", 10s, {.headers = {"X-Fits: " + std::string(500, 'f')}});
    CHECK(fits.status == 200);
}

TEST_CASE("live view server: malformed requests get 400, other methods 405, unknown pages 404, HEAD the head only") {
    TestServer server({});
    RawConnection garbage(server.port());
    REQUIRE(garbage.send("hello there\r\n\r\n"));
    CHECK(garbage.read_until_closed(10s));
    CHECK(garbage.status() == 400);
    CHECK(http_get(server.port(), "/metrics", 10s, {.method = "POST"}).status == 405);
    CHECK(http_get(server.port(), "/nothing-here").status == 404);
    const HttpResponse head = http_get(server.port(), "/metrics", 10s, {.method = "HEAD"});
    CHECK(head.status == 200);
    CHECK(head.body.empty());
}

TEST_CASE("live view server: one address holds at most max_per_client connections; more get 429 while other addresses "
          "are served, and a closed one frees its place") {
    LiveViewServer::Settings settings;
    settings.max_per_client = 3;
    settings.request_timeout = 60s;
    TestServer server(settings);
    std::vector<std::unique_ptr<RawConnection>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<RawConnection>(server.port(), "127.0.0.2"));
        REQUIRE(held.back()->send("GET /metrics HTTP/1.1\r\n"));
    }
    // The server counts a connection once it accepted it: wait until it sees all three.
    REQUIRE(eventually([&] { return server.metric("framepipe_live_view_connections") == 3 + 1; }));
    RawConnection fourth(server.port(), "127.0.0.2");
    CHECK(fourth.read_until_closed(10s));
    CHECK(fourth.status() == 429);
    CHECK(fourth.received().find("at most 3") != std::string::npos);
    CHECK(http_get(server.port(), "/metrics", 10s, {.from = "127.0.0.3"}).status == 200);
    CHECK(server.metric(refused("client_limit")) == 1);
    held.pop_back();
    CHECK(eventually([&] { return http_get(server.port(), "/metrics", 10s, {.from = "127.0.0.2"}).status == 200; }));
}

TEST_CASE("live view server: at max_connections the oldest connection still sending its head makes room for a new one") {
    LiveViewServer::Settings settings;
    settings.max_connections = 4;
    settings.max_viewers = 1;
    settings.request_timeout = 60s;
    TestServer server(settings);
    std::vector<std::unique_ptr<RawConnection>> slow;
    for (int i = 0; i < 4; ++i) {
        slow.push_back(std::make_unique<RawConnection>(server.port(), fmt::format("127.0.0.{}", 10 + i)));
        REQUIRE(slow.back()->send("GET /metrics HTTP/1.1\r\n"));
        // One at a time, so that which one is oldest is known (the last one fills the server: no probe after it).
        if (i < 3)
            REQUIRE(eventually([&] { return server.metric("framepipe_live_view_connections") == double(i + 2); }));
    }
    const HttpResponse answer = http_get(server.port(), "/metrics", 10s, {.from = "127.0.0.20"});
    CHECK(answer.status == 200);
    CHECK(slow.front()->read_until_closed(10s));  // the oldest went
    for (std::size_t i = 1; i < slow.size(); ++i) CHECK_FALSE(slow[i]->read_until_closed(50ms));
    CHECK(metric("\n" + answer.body, refused("server_full")) >= 1);
}

TEST_CASE("live_view: past max_viewers a stream request gets 503 while the page, snapshot, stats and metrics are "
          "served, and a new viewer gets pictures once one leaves") {
    const int port = free_port();
    LiveRun run(port, {"synthetic"}, {{"max_viewers", "2"}});
    REQUIRE(run.failure().empty());
    auto first = std::make_unique<MjpegReader>(port, "/stream.mjpg");
    MjpegReader second(port, "/stream.mjpg");
    REQUIRE(first->status() == 200);
    REQUIRE(second.status() == 200);
    REQUIRE(first->next_part().has_value());
    const HttpResponse third = http_get(port, "/stream.mjpg");
    CHECK(third.status == 503);
    CHECK(third.body.find("at most 2") != std::string::npos);
    CHECK(http_get(port, "/").status == 200);
    CHECK(http_get(port, "/snapshot.jpg").status == 200);
    CHECK(http_get(port, "/metrics").status == 200);
    CHECK(eventually([&] { return http_get(port, "/stats.json").status == 200; }));
    first.reset();
    CHECK(eventually([&] {
        MjpegReader again(port, "/stream.mjpg");
        return again.status() == 200 && again.next_part().has_value();
    }));
    REQUIRE(run.stop().ok());
}

TEST_CASE("live view server: stopping closes at once connections mid-request, stalled viewers and waiting snapshots, "
          "whatever their timeouts") {
    LiveViewServer::Settings settings;
    settings.request_timeout = 600s;
    settings.write_timeout = 600s;
    auto server = std::make_unique<TestServer>(settings, 200'000);  // large pictures: the stalled viewer's buffers fill
    const int port = server->port();
    RawConnection slow(port);
    REQUIRE(slow.send("GET /metrics HTTP/1.1\r\nX-Slow: a"));
    StalledViewer stalled(port, "/stream.mjpg");
    MjpegReader viewer(port, "/stream.mjpg");
    REQUIRE(viewer.status() == 200);
    REQUIRE(viewer.next_part().has_value());
    REQUIRE(eventually([&] { return server->metric("framepipe_live_view_viewers{stream=\"cam\"}") == 2; }));

    auto stopped = std::async(std::launch::async, [&] { server->stop(); });
    // A safety bound against a hang, not a timing check: stopping waits on no client.
    REQUIRE(stopped.wait_for(30s) == std::future_status::ready);
    CHECK(slow.read_until_closed(10s));
    CHECK(slow.status() == 0);  // closed without an answer
    while (viewer.next_part()) {
    }
    CHECK(http_get(port, "/metrics", 1s).status == 0);  // nothing listens any more
}

TEST_CASE("live view server: with a token, requests without it get 401; ?token=, Bearer and basic auth are accepted, "
          "compared whole") {
    LiveViewServer::Settings settings;
    settings.token = "s3cret-token";
    TestServer server(settings);
    const int port = server.port();
    const HttpResponse none = http_get(port, "/metrics");
    CHECK(none.status == 401);
    CHECK(none.head.find("WWW-Authenticate: Basic") != std::string::npos);
    CHECK(none.body.find("s3cret") == std::string::npos);
    CHECK(http_get(port, "/metrics?token=s3cret-token").status == 200);
    CHECK(http_get(port, "/metrics", 10s, {.headers = {"Authorization: Bearer s3cret-token"}}).status == 200);
    // base64("viewer:s3cret-token")
    CHECK(http_get(port, "/snapshot.jpg", 10s, {.headers = {"Authorization: Basic dmlld2VyOnMzY3JldC10b2tlbg=="}})
              .status == 200);
    CHECK(http_get(port, "/metrics?token=s3cret-tokeN").status == 401);
    CHECK(http_get(port, "/metrics?token=s3cret-toke").status == 401);
    CHECK(http_get(port, "/metrics?token=s3cret-token2").status == 401);
    CHECK(http_get(port, "/metrics", 10s, {.headers = {"Authorization: Bearer wrong"}}).status == 401);
    CHECK(http_get(port, "/stream.mjpg").status == 401);
    // The page keeps the token given in its address on its own links, so <img> tags load.
    const HttpResponse page = http_get(port, "/?token=s3cret-token");
    CHECK(page.status == 200);
    CHECK(page.body.find("/stream.mjpg?name=cam&amp;token=s3cret-token") != std::string::npos);
    MjpegReader viewer(port, "/stream.mjpg?token=s3cret-token");
    CHECK(viewer.status() == 200);
    CHECK(viewer.next_part().has_value());
}

TEST_CASE("live view server: on [::1] it serves over IPv6, and counts an IPv6 client's connections by its /64") {
    LiveViewServer::Settings settings;
    settings.host = "[::1]";
    settings.port = 0;
    settings.max_per_client = 1;
    settings.request_timeout = 60s;
    const auto server = LiveViewServer::acquire(settings, nullptr);
    const auto connect6 = [&] {
        const int fd = socket(AF_INET6, SOCK_STREAM, 0);
        sockaddr_in6 address{};
        address.sin6_family = AF_INET6;
        address.sin6_addr = in6addr_loopback;
        address.sin6_port = htons(static_cast<std::uint16_t>(server->port()));
        REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        return fd;
    };
    const auto answer_of = [](int fd) {
        std::string data;
        char chunk[4096];
        for (ssize_t n; (n = recv(fd, chunk, sizeof chunk, 0)) > 0;) data.append(chunk, static_cast<std::size_t>(n));
        close(fd);
        return data;
    };
    const timeval limit{10, 0};  // a safety bound on each read
    const int held = connect6();
    const int second = connect6();
    setsockopt(second, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    CHECK(answer_of(second).rfind("HTTP/1.1 429", 0) == 0);
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n";
    setsockopt(held, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    REQUIRE(send(held, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    const std::string metrics = answer_of(held);
    CHECK(metrics.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(metrics.find("framepipe_live_view_connections_refused_total{reason=\"client_limit\"} 1") != std::string::npos);
}

TEST_CASE("live view server: without a token only requests naming this machine in Host are answered (no DNS "
          "rebinding); with one, any Host that carries it") {
    TestServer open_server({});
    CHECK(http_get(open_server.port(), "/metrics", 10s, {.headers = {"Host: camera.example.com"}}).status == 403);
    CHECK(http_get(open_server.port(), "/metrics", 10s, {.headers = {"Host: localhost:8080"}}).status == 200);
    CHECK(http_get(open_server.port(), "/metrics", 10s, {.headers = {"Host: [::1]:8080"}}).status == 200);
    LiveViewServer::Settings settings;
    settings.token = "s3cret";
    TestServer guarded(settings);
    CHECK(http_get(guarded.port(), "/metrics?token=s3cret", 10s, {.headers = {"Host: camera.example.com"}}).status ==
          200);
}

TEST_CASE("live_view: a listen address off loopback needs a token, and the refusal says how to set one") {
    CHECK(LiveViewServer::is_loopback("127.0.0.1"));
    CHECK(LiveViewServer::is_loopback("127.3.2.1"));
    CHECK(LiveViewServer::is_loopback("localhost"));
    CHECK(LiveViewServer::is_loopback("::1"));
    CHECK(LiveViewServer::is_loopback("[::1]"));
    CHECK_FALSE(LiveViewServer::is_loopback("0.0.0.0"));
    CHECK_FALSE(LiveViewServer::is_loopback("::"));
    CHECK_THROWS_WITH_AS(make_stage("live_view", {{"listen", "0.0.0.0:8080"}}),
                         doctest::Contains("FRAMEPIPE_LIVE_TOKEN"), ConfigError);
    CHECK_THROWS_AS(make_stage("live_view", {{"listen", "no-such-host.invalid:8080"}}), ConfigError);
    CHECK_NOTHROW(make_stage("live_view", {{"listen", "0.0.0.0:8080"}, {"token", "s3cret"}}));  // built, not started
    CHECK_NOTHROW(make_stage("live_view", {{"listen", "localhost:8080"}}));
}
