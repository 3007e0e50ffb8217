// The live view, served on 127.0.0.1 while a live synthetic source runs: MJPEG parts that decode to the newest frames,
// a fresh snapshot, the live report as JSON and Prometheus text, several inputs on one server, and viewers that stop
// reading: they are disconnected after the write timeout while the pipeline goes on publishing.
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <arpa/inet.h>
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

cv::Mat decoded(const std::string& jpeg) {
    return cv::imdecode(cv::Mat(1, static_cast<int>(jpeg.size()), CV_8UC1, const_cast<char*>(jpeg.data())),
                        cv::IMREAD_COLOR);
}

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
        const cv::Mat picture = decoded(*jpeg);
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
    const cv::Mat picture = decoded(snapshot.body);
    REQUIRE(!picture.empty());
    CHECK(SyntheticSource::burned_number_of(picture) >= 0);

    // The live report refreshes about once a second: wait until it has counted frames.
    nlohmann::json stats;
    CHECK(eventually([&] {
        const HttpResponse r = http_get(port, "/stats.json");
        if (r.status != 200) return false;
        stats = nlohmann::json::parse(r.body);
        return stats["sources"][0]["captured"].get<int>() > 0;
    }));
    CHECK(stats["schema"] == "framepipe-report/1");
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
    CHECK(!decoded(*jpeg).empty());
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
        // published far more than that while it was stuck.
        const double published = metric(page, R"(framepipe_live_view_pictures_total{stream="synthetic"})");
        const double sent = metric(page, R"(framepipe_live_view_parts_sent_total{stream="synthetic"})");
        const double stalled_got_at_most = sent - static_cast<double>(received);
        CAPTURE(published);
        CAPTURE(sent);
        CAPTURE(received);
        CHECK(published - stalled_got_at_most >= 25);  // at least the write timeout's worth of frames at 30 fps
        CHECK(received >= 25);
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
