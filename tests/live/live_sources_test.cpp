// Live input without a camera: a real network stream served on 127.0.0.1 by Debian's ffmpeg (killed and restarted
// mid-run), the synthetic live source, and timeouts that keep a dead stream from hanging anything.
#include "support/eventually.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/test_stages.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <csignal>
#include <mutex>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

std::string mjpeg_server(int port, int fps = 25) {
    return fmt::format("ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=320x240:rate={} -c:v mjpeg -q:v 5 "
                       "-f mpjpeg -listen 1 http://127.0.0.1:{}/live.mjpg",
                       fps, port);
}

// Counts frames and remembers their media times.
class TimeRecorder final : public Stage {
public:
    explicit TimeRecorder(std::string name) : Stage({.name = std::move(name), .needs_ordered_input = true}) {}
    Outcome process(Frame& frame) override {
        std::lock_guard lock(mutex_);
        times_.push_back(frame.media_time);
        count_.fetch_add(1);
        return Outcome::pass;
    }
    [[nodiscard]] std::uint64_t count() const { return count_.load(); }
    [[nodiscard]] std::vector<Duration> times() const {
        std::lock_guard lock(mutex_);
        return times_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<Duration> times_;
    std::atomic<std::uint64_t> count_{0};
};

/// Pipeline options whose progress callback (every 20 ms) sets `lost` once the first source reports its signal lost.
PipelineOptions watching_for_loss(std::atomic<bool>& lost) {
    PipelineOptions options;
    options.progress_interval = 20ms;
    options.on_progress = [&lost](const RunReport& r) {
        if (r.sources.at(0).signal_lost) lost.store(true);
    };
    return options;
}

}  // namespace

TEST_CASE("live: a stream whose server dies is declared lost within the read timeout, reconnected when it returns, "
          "and another source keeps running meanwhile") {
    const int port = free_port();
    const std::string url = fmt::format("http://127.0.0.1:{}/live.mjpg", port);
    auto server = std::make_unique<Process>(mjpeg_server(port));
    std::this_thread::sleep_for(300ms);  // let it listen

    auto stream_sink_owner = std::make_unique<TimeRecorder>("stream_sink");
    TimeRecorder& stream_sink = *stream_sink_owner;
    auto camera_sink_owner = std::make_unique<TimeRecorder>("camera_sink");
    TimeRecorder& camera_sink = *camera_sink_owner;
    std::atomic<bool> lost_seen{false};
    Pipeline pipeline(watching_for_loss(lost_seen));
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{
                            .path = url, .open_timeout = 2s, .read_timeout = 1s, .backoff_max = 500ms}))
        .add(std::move(stream_sink_owner));
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 64, .height = 48, .frames = 0, .fps = 25, .live = true,
                            .pattern = SyntheticSource::Pattern::counter, .name = "camera"}))
        .add(std::move(camera_sink_owner));

    std::uint64_t camera_at_kill = 0, camera_at_return = 0, stream_at_return = 0;
    bool steps_ok = true;
    std::thread driver([&] {
        steps_ok = eventually([&] { return stream_sink.count() >= 25; }, 15s);
        if (steps_ok) {
            server->kill(SIGKILL);
            camera_at_kill = camera_sink.count();
            steps_ok = eventually([&] { return lost_seen.load(); }, 10s);  // detected
        }
        if (steps_ok) {
            // Stays down a little longer (a few reconnect attempts fail): while the other source delivers 15 more.
            const std::uint64_t camera_at_lost = camera_sink.count();
            steps_ok = eventually([&] { return camera_sink.count() >= camera_at_lost + 15; }, 20s);
            camera_at_return = camera_sink.count();
            stream_at_return = stream_sink.count();
            server = std::make_unique<Process>(mjpeg_server(port));
            steps_ok = eventually([&] { return stream_sink.count() >= stream_at_return + 25; }, 20s);  // back
        }
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(steps_ok);
    REQUIRE(report.ok());
    const SourceReport& stream = report.sources.at(0);
    CHECK(stream.live);
    CHECK(stream.reconnects >= 1);
    CHECK(stream.time_lost > Duration::zero());
    CHECK_FALSE(stream.signal_lost);
    CHECK(camera_at_return > camera_at_kill);  // the other source kept delivering while the stream was down
    CHECK(stream_sink.count() > stream_at_return);
    const auto times = stream_sink.times();
    CHECK(std::is_sorted(times.begin(), times.end()));  // one media timeline across the reconnect
    CHECK(report.balanced());
}

TEST_CASE("live: an RTSP camera (H.264 over RTP, interleaved in TCP) is read live; its loss is detected within the "
          "read timeout and the stream comes back with its server") {
    const int port = free_port();
    const std::string server_command =
        fmt::format("'{}/support/rtsp_server.py' {}", FRAMEPIPE_TESTS_DIR, port);  // GStreamer's RTSP server
    auto server = std::make_unique<Process>(server_command);
    const std::string url = fmt::format("rtsp://127.0.0.1:{}/cam", port);
    REQUIRE(eventually([&] { return run(fmt::format("ffprobe -v quiet -rtsp_transport tcp '{}'", url)) == 0; }, 15s));

    auto sink_owner = std::make_unique<TimeRecorder>("sink");
    TimeRecorder& sink = *sink_owner;
    std::atomic<bool> lost_seen{false};
    Pipeline pipeline(watching_for_loss(lost_seen));
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{
                            .path = url, .open_timeout = 5s, .read_timeout = 1s, .backoff_max = 500ms}))
        .add(std::move(sink_owner));
    std::uint64_t at_return = 0;
    bool steps_ok = true;
    std::thread driver([&] {
        steps_ok = eventually([&] { return sink.count() >= 25; }, 15s);
        if (steps_ok) {
            server->kill(SIGKILL);
            steps_ok = eventually([&] { return lost_seen.load(); }, 10s);
        }
        if (steps_ok) {
            at_return = sink.count();
            server = std::make_unique<Process>(server_command);
            steps_ok = eventually([&] { return sink.count() >= at_return + 25; }, 20s);
        }
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(steps_ok);
    REQUIRE(report.ok());
    const SourceReport& camera = report.sources.at(0);
    CHECK(camera.live);
    CHECK(camera.name == fmt::format("127-0-0-1-{}_cam", port));
    CHECK(camera.reconnects >= 1);
    // Joined between keyframes or not, the decoder starts at a keyframe: no packet without a picture.
    CHECK(camera.stages.at(0).rejected == 0);
    CHECK(sink.count() >= at_return + 25);
    const auto times = sink.times();
    CHECK(std::is_sorted(times.begin(), times.end()));  // RTSP's first packet has no timestamp: not a jump back to 0
    CHECK(report.balanced());
}

TEST_CASE("live: a stream that does not answer, without reconnect, fails within its open timeout, naming it") {
    const int port = free_port();  // nothing listens: refused at once
    const std::string expected = fmt::format("'http://127.0.0.1:{}/nothing': cannot open", port);
    CHECK_THROWS_WITH_AS(VideoSource::probe(fmt::format("http://127.0.0.1:{}/nothing", port)),
                         doctest::Contains(expected.c_str()), Error);
    // UDP: the socket opens, but no packet ever comes. The open must give up at its timeout rather than wait forever.
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{
                            .path = fmt::format("udp://127.0.0.1:{}", free_port()), .open_timeout = 1s,
                            .reconnect = false}))
        .add(std::make_unique<TimeRecorder>("sink"));
    CHECK_THROWS_WITH_AS(pipeline.run(), doctest::Contains("cannot open within 1 s"), Error);
}

TEST_CASE("live: behind a slow stage, a live source's frames are dropped and counted, and latency does not grow") {
    Pipeline pipeline({.timeline_interval = 100ms});
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 160, .height = 120, .frames = 90, .fps = 30, .live = true,
                            .pattern = SyntheticSource::Pattern::counter}))
        .add(std::make_unique<SpinStage>("filter", true))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "slow", .sleep = 60ms}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& s = report.sources.at(0);
    CHECK(s.captured + s.skipped_by_source == 90);
    CHECK(s.dropped() > 20);  // the stage handles ~16 of the 30 frames a second
    CHECK(s.edges.at(0).overflow == Overflow::drop_oldest);
    CHECK(report.balanced());
    // Latency over the run: the second half is no worse than the first (a growing backlog would double it).
    std::vector<double> p99;
    for (const auto& sample : report.timeline)
        if (sample.sources.at(0).end_to_end_p99 > Duration::zero())
            p99.push_back(std::chrono::duration<double, std::milli>(sample.sources.at(0).end_to_end_p99).count());
    REQUIRE(p99.size() >= 6);
    const auto mean = [](auto begin, auto end) {
        double sum = 0;
        for (auto it = begin; it != end; ++it) sum += *it;
        return sum / static_cast<double>(end - begin);
    };
    const double first = mean(p99.begin(), p99.begin() + static_cast<long>(p99.size() / 2));
    const double second = mean(p99.begin() + static_cast<long>(p99.size() / 2), p99.end());
    CAPTURE(first);
    CAPTURE(second);
    CHECK(second <= first * 1.5 + 30);
}

TEST_CASE("live: MJPEG over HTTP carries no timestamps, so its frames are stamped by arrival: a 5 fps stream is not "
          "read as 25 fps") {
    const int port = free_port();
    auto server = std::make_unique<Process>(mjpeg_server(port, 5));
    std::this_thread::sleep_for(300ms);  // let it listen
    auto sink_owner = std::make_unique<TimeRecorder>("sink");
    TimeRecorder& sink = *sink_owner;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{
                            .path = fmt::format("http://127.0.0.1:{}/live.mjpg", port), .open_timeout = 5s}))
        .add(std::move(sink_owner));
    std::thread driver([&] {
        (void)eventually([&] { return sink.count() >= 12; }, 30s);
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(report.ok());
    const std::vector<Duration> times = sink.times();
    REQUIRE(times.size() >= 12);
    CHECK(std::is_sorted(times.begin(), times.end()));
    // At FFmpeg's 25 fps guess, 11 intervals would span 0.44 s; they arrived 0.2 s apart (2.2 s). Half-way between:
    const Duration span = times.back() - times.front();
    CAPTURE(in_seconds(span));
    CHECK(span > std::chrono::milliseconds(100) * static_cast<int>(times.size() - 1));
}
