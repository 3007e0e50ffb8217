// The live view's per-stream status, over real HTTP on 127.0.0.1, in simulated time: a ManualClock drives the run (the
// camera's pacing, its loss, the reconnect backoff, the live report), so the states, "since" times, frames/s, latency
// and drops in /status.json are exact. A stream without a live picture (its signal lost, reconnecting, or no frame
// yet) serves a "signal lost" picture on its picture routes instead of an error or a frozen frame.
#include "live/live_view_server.hpp"
#include "stages/template_text.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <atomic>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

constexpr Duration kFramePeriod = 40ms;  // 25 frames/s

/// A supervised live camera of green 320x240 frames, one every 40 ms of its clock. After `first_frames` frames it waits
/// 500 ms and its connection breaks; it then refuses to reopen until `answer` is set. Reopened, it waits 5 s before
/// its next frame (a camera that answers before it sends a picture), then sends one and waits until the run stops.
class LosingCamera final : public Source {
public:
    explicit LosingCamera(int first_frames) : first_frames_(first_frames) {}

    SourceInfo open(std::stop_token) override {
        if (opens_++ > 0 && !answer.load()) throw Error("connection refused");
        SourceInfo info;
        info.name = "cam";
        info.live = true;
        info.fps = 25;
        info.size = {320, 240};
        info.supervised = true;
        info.backoff_initial = 10s;
        info.backoff_max = 10s;
        start_ = clock().now();
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        if (opens_ == 1) {
            if (sent_ == first_frames_) {
                (void)clock().sleep_until(clock().now() + 500ms, stop);
                throw Error("connection reset by peer");
            }
            if (sent_ > 0 && !clock().sleep_until(start_ + kFramePeriod * sent_, stop)) return ReadResult::end_of_stream;
        } else if (sent_again_++ == 0) {
            if (!clock().sleep_until(start_ + 5s, stop)) return ReadResult::end_of_stream;
        } else {
            (void)clock().sleep_until(clock().now() + 24h, stop);
            return ReadResult::end_of_stream;
        }
        frame.prepare_image({320, 240}, CV_8UC3);
        frame.image.setTo(cv::Scalar(0, 200, 0));
        frame.media_time = kFramePeriod * sent_++;
        return ReadResult::frame;
    }

    std::atomic<bool> answer{false};

private:
    int first_frames_;
    int opens_ = 0;
    int sent_ = 0;
    int sent_again_ = 0;
    TimePoint start_{};
};

/// Counts the frames that got past the live view.
class Counter final : public Stage {
public:
    explicit Counter(std::atomic<int>& count) : Stage({.name = "counter"}), count_(count) {}
    Outcome process(Frame&) override {
        count_.fetch_add(1);
        return Outcome::pass;
    }

private:
    std::atomic<int>& count_;
};

/// The status of the stream named `name` in /status.json, or null when the route does not answer with it.
nlohmann::json stream_status(int port, const std::string& name) {
    const HttpResponse r = http_get(port, "/status.json", 5s);
    if (r.status != 200 || r.content_type != "application/json") return nullptr;
    const nlohmann::json all = nlohmann::json::parse(r.body);
    for (const auto& s : all["streams"])
        if (s["name"] == name) return s;
    return nullptr;
}

}  // namespace

TEST_CASE("live_view status: a stream is live with its frame rate, lost since the exact time its signal went (with a "
          "'signal lost' JPEG on its picture routes), reconnecting until a frame comes, then live again") {
    const int port = free_port();
    ManualClock clock;
    clock.set_wall(std::chrono::sys_days{std::chrono::year{2026} / 5 / 4} + 8h + 15min);
    const TimePoint start = clock.now();
    auto camera_owner = std::make_unique<LosingCamera>(26);
    LosingCamera& camera = *camera_owner;
    std::atomic<int> passed{0};
    Pipeline pipeline({.clock = &clock, .progress_interval = 100ms});
    pipeline.add_source(std::move(camera_owner))
        .add(make_stage("live_view", {{"listen", fmt::format("127.0.0.1:{}", port)}, {"max_fps", "0"}}),
             {.overflow = Overflow::block})
        .add(std::make_unique<Counter>(passed), {.overflow = Overflow::block});
    RunReport report;
    std::thread runner([&] { report = pipeline.run(); });
    struct StopAtExit {
        Pipeline& pipeline;
        std::thread& runner;
        ~StopAtExit() {
            pipeline.request_stop();
            if (runner.joinable()) runner.join();
        }
    } stop_at_exit{pipeline, runner};

    // Live: 26 frames, 40 ms apart on the camera's clock; each reaches the view before the clock moves on.
    for (int n = 1; n < 26; ++n) {
        REQUIRE(clock.wait_for_sleepers(1));
        REQUIRE(eventually([&] { return passed.load() == n; }));
        clock.advance_to_next_wake();
    }
    REQUIRE(clock.wait_for_sleepers(1));
    REQUIRE(eventually([&] { return passed.load() == 26; }));
    nlohmann::json status;
    REQUIRE(eventually([&] {
        status = stream_status(port, "cam");
        return !status.is_null() && status["state"] == "live" && !status["latency_p50_ms"].is_null();
    }));
    CHECK(status["fps"].get<double>() == doctest::Approx(25.0));  // 25 intervals of 40 ms in the last second
    CHECK(status["since"].is_null());
    CHECK(status["latency_p50_ms"].get<double>() == 0.0);  // nothing takes simulated time
    CHECK(status["dropped"] == 0);

    // Lost: 500 ms after its last frame the connection breaks; the engine backs off 10 s before trying again.
    clock.advance_to_next_wake();
    const TimePoint lost_at = clock.now();
    REQUIRE(lost_at == start + 25 * kFramePeriod + 500ms);
    REQUIRE(clock.wait_for_sleepers(1));  // the reconnect loop waits out its backoff
    clock.advance(200ms);                 // the report is refreshed (progress_interval) with the loss in it
    REQUIRE(eventually([&] {
        status = stream_status(port, "cam");
        return !status.is_null() && status["state"] == "lost";
    }));
    CHECK(status["since"] == stages::iso_clock(clock.wall_time(lost_at)));
    CHECK(status["for_s"].get<double>() == doctest::Approx(0.2));
    CHECK(status["fps"].get<double>() == 0.0);
    CHECK(status["reconnects"] == 1);

    const HttpResponse snapshot = http_get(port, "/snapshot.jpg?name=cam", 5s);
    REQUIRE(snapshot.status == 200);
    CHECK(snapshot.content_type == "image/jpeg");
    CHECK(snapshot.head.find("X-Stream-State: lost\r\n") != std::string::npos);
    const cv::Mat picture = decode_picture(snapshot.body);
    REQUIRE_FALSE(picture.empty());
    CHECK(picture.size() == cv::Size(320, 240));  // the stream's size, not the last green frame
    CHECK(cv::mean(picture)[1] < 100);
    MjpegReader viewer(port, "/stream.mjpg?name=cam", 5s);
    REQUIRE(viewer.status() == 200);
    const auto part = viewer.next_part();
    REQUIRE(part.has_value());
    CHECK(decode_picture(*part).size() == cv::Size(320, 240));
    CHECK(cv::mean(decode_picture(*part))[1] < 100);

    // Reconnecting: the camera answers after the backoff, and sends its next frame 5 s later.
    camera.answer.store(true);
    clock.advance_to_next_wake();  // the reopen succeeds
    REQUIRE(clock.wait_for_sleepers(1));
    clock.advance(200ms);
    REQUIRE(eventually([&] {
        status = stream_status(port, "cam");
        return !status.is_null() && status["state"] == "reconnecting";
    }));
    CHECK(status["since"] == stages::iso_clock(clock.wall_time(lost_at)));
    const std::optional<std::string> status_part = viewer.next_part();  // status pictures go on reaching the viewer
    REQUIRE(status_part.has_value());
    CHECK(cv::mean(decode_picture(*status_part))[1] < 100);

    // Live again with the first frame after the loss.
    clock.advance_to_next_wake();
    REQUIRE(eventually([&] { return passed.load() == 27; }));
    REQUIRE(eventually([&] {
        status = stream_status(port, "cam");
        return !status.is_null() && status["state"] == "live";
    }));
    CHECK(status["since"].is_null());
    // The viewer gets the camera's green frame next, after any repeats of the status picture sent meanwhile.
    bool green = false;
    for (int part = 0; part < 20 && !green; ++part) {
        const std::optional<std::string> jpeg = viewer.next_part();
        REQUIRE(jpeg.has_value());
        green = cv::mean(decode_picture(*jpeg))[1] > 150;
    }
    CHECK(green);
}

TEST_CASE("live view server: a stream with no frame yet says waiting, and its snapshot is a 'no signal yet' JPEG "
          "rather than an error; the page polls /status.json and never shows a broken image") {
    ManualClock clock;
    live::LiveViewServer::Settings settings;
    settings.port = 0;
    auto server = live::LiveViewServer::acquire(settings, nullptr);
    auto activity = std::make_shared<live::StreamActivity>(0, "porch", clock, clock.now());
    const auto stream = server->add_stream("porch", "", activity);
    clock.advance(3s);

    const nlohmann::json status = stream_status(server->port(), "porch");
    REQUIRE_FALSE(status.is_null());
    CHECK(status["state"] == "waiting");
    CHECK(status["since"] == stages::iso_clock(clock.wall_time(clock.now() - 3s)));
    CHECK(status["for_s"].get<double>() == doctest::Approx(3.0));
    CHECK(status["latency_p50_ms"].is_null());

    const HttpResponse snapshot = http_get(server->port(), "/snapshot.jpg?name=porch", 10s);
    REQUIRE(snapshot.status == 200);
    CHECK(snapshot.head.find("X-Stream-State: waiting\r\n") != std::string::npos);
    const cv::Mat picture = decode_picture(snapshot.body);
    REQUIRE_FALSE(picture.empty());
    CHECK(picture.size() == cv::Size(640, 360));  // no frame: no size known yet

    const std::string page = http_get(server->port(), "/", 5s).body;
    CHECK(page.find("<figure data-stream=\"porch\">") != std::string::npos);
    CHECK(page.find("onerror=\"fallback(this)\"") != std::string::npos);
    CHECK(page.find("const statusUrl='/status.json';") != std::string::npos);

    // Frames arrive: live, with the rate of the frames that reached the stage.
    for (int n = 0; n <= 10; ++n) activity->frame_seen(clock.now() + 100ms * n, {320, 180});
    clock.advance(1s);
    const nlohmann::json live = stream_status(server->port(), "porch");
    CHECK(live["state"] == "live");
    CHECK(live["fps"].get<double>() == doctest::Approx(10.0));
    CHECK(live["last_frame_age_s"].get<double>() == doctest::Approx(0.0));

    // After a gap (a loss), the rate is that of the frames since, not diluted by the gap.
    clock.advance(20s);
    for (int n = 0; n <= 5; ++n) activity->frame_seen(clock.now() + 200ms * n, {320, 180});
    clock.advance(1s);
    CHECK(stream_status(server->port(), "porch")["fps"].get<double>() == doctest::Approx(5.0));
}

TEST_CASE("live view server: with a token, /status.json needs it like every route, and the page polls it with it") {
    live::LiveViewServer::Settings settings;
    settings.port = 0;
    settings.token = "s3cret";
    auto server = live::LiveViewServer::acquire(settings, nullptr);
    const auto stream = server->add_stream("cam");
    CHECK(http_get(server->port(), "/status.json", 5s).status == 401);
    const HttpResponse status = http_get(server->port(), "/status.json?token=s3cret", 5s);
    CHECK(status.status == 200);
    CHECK(nlohmann::json::parse(status.body)["streams"][0]["state"] == "waiting");
    CHECK(http_get(server->port(), "/?token=s3cret", 5s).body.find("const statusUrl='/status.json?token=s3cret';") !=
          std::string::npos);
}
