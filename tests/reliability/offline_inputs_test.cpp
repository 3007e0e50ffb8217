// Inputs that are not there when the run starts: with reconnect on, an input that cannot open is retried with backoff
// like a lost one while the other inputs run, and joins when it answers; a camera that does not exist is retried too.
#include "support/command.hpp"
#include "support/eventually.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/recorders.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class Counter final : public Stage {
public:
    explicit Counter(std::string name) : Stage({.name = std::move(name)}) {}
    Outcome process(Frame&) override {
        count.fetch_add(1);
        return Outcome::pass;
    }
    std::atomic<std::uint64_t> count{0};
};

}  // namespace

TEST_CASE("offline at start: a stream that is not up yet is retried while another input runs, and joins when it "
          "answers") {
    const int port = free_port();
    auto stream_owner = std::make_unique<Counter>("stream_sink");
    Counter& stream = *stream_owner;
    auto camera_owner = std::make_unique<Counter>("camera_sink");
    Counter& camera = *camera_owner;
    std::atomic<bool> lost_at_start{false};
    PipelineOptions options;
    options.progress_interval = 50ms;
    options.on_progress = [&](const RunReport& r) {
        if (r.sources.at(0).signal_lost && r.sources.at(0).captured == 0) lost_at_start.store(true);
    };
    Pipeline pipeline(options);
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{
                            .path = fmt::format("http://127.0.0.1:{}/late.mjpg", port), .open_timeout = 2s,
                            .read_timeout = 2s, .backoff_max = 300ms}))
        .add(std::move(stream_owner));
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 64, .height = 48, .frames = 0, .fps = 25, .live = true,
                            .pattern = SyntheticSource::Pattern::counter, .name = "camera"}))
        .add(std::move(camera_owner));
    std::unique_ptr<Process> server;
    bool steps_ok = true;
    std::thread driver([&] {
        steps_ok = eventually([&] { return camera.count.load() >= 25 && lost_at_start.load(); }, 20s);
        CHECK(stream.count.load() == 0);
        server = std::make_unique<Process>(fmt::format(
            "ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=size=160x120:rate=25 -c:v mjpeg -q:v 5 -f mpjpeg "
            "-listen 1 http://127.0.0.1:{}/late.mjpg",
            port));
        steps_ok = steps_ok && eventually([&] { return stream.count.load() >= 25; }, 30s);
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    driver.join();
    REQUIRE(steps_ok);
    REQUIRE(report.ok());
    const SourceReport& late = report.sources.at(0);
    CHECK(late.captured >= 25);
    CHECK_FALSE(late.signal_lost);
    CHECK(late.reconnects == 0);  // never lost after it came: waiting for it first is not a reconnect
    CHECK(late.time_lost > Duration::zero());
    CHECK(report.balanced());
}

TEST_CASE("offline at start: a camera that does not exist, with reconnect on, is retried and the run goes on until "
          "stopped") {
    TempDir dir;
    std::ofstream(dir / "two.yaml") << "source: { backoff_max: 200ms }\n"
                                       "stages:\n  - { type: \"null\" }\n";
    Process run(fmt::format("'{}' run -q two.yaml camera:97 synthetic --set source.reconnect=true "
                            "--set source.live=true --set source.frames=0 > '{}' 2> '{}'",
                            FRAMEPIPE_BINARY, dir / "out.txt", dir / "err.txt"),
                dir.path());
    REQUIRE(eventually([&] { return slurp(dir / "err.txt").find("not reachable") != std::string::npos; }, 30s));
    CHECK(run.running());  // the missing camera did not end the run
    run.kill(SIGINT, false);
    const std::optional<int> code = run.wait_for(60s);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    const std::string out = slurp(dir / "out.txt");
    CHECK(out.find("/dev/video97 (live): 0 captured") != std::string::npos);
    CHECK(out.find("synthetic (live):") != std::string::npos);
}
