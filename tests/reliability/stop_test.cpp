// Stopping: every frame captured before a stop is delivered or counted as dropped with its cause, and a stopped video
// ends on a complete picture sequence (no B-frames missing before the last reference frame shown).
#include "support/command.hpp"
#include "support/eventually.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/recorders.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/videoio.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Passes every frame; calls `at` when the frame numbered `sequence` goes by.
class CallAt final : public Stage {
public:
    CallAt(std::uint64_t sequence, std::function<void()> at)
        : Stage({.name = "stop_at", .needs_ordered_input = true}), sequence_(sequence), at_(std::move(at)) {}
    Outcome process(Frame& frame) override {
        if (frame.sequence == sequence_) at_();
        return Outcome::pass;
    }

private:
    std::uint64_t sequence_;
    std::function<void()> at_;
};

// B-frames in pyramids of 3 between references: stopping after a reference leaves pictures that display before it.
const char* const kBFrames = "-c:v libx264 -preset veryfast -x264-params b-adapt=0:bframes=3:b-pyramid=normal -g 12 "
                             "-pix_fmt yuv420p";

// Numbers in [0, last] that are missing from `numbers` (which must be increasing).
std::size_t holes(const std::vector<int>& numbers) {
    return numbers.empty() ? 0 : static_cast<std::size_t>(numbers.back() + 1) - numbers.size();
}

std::vector<int> numbers_in_video(const std::string& path) {
    cv::VideoCapture capture(path);
    std::vector<int> numbers;
    cv::Mat image;
    while (capture.read(image)) numbers.push_back(read_number(image));
    return numbers;
}

}  // namespace

TEST_CASE("stop: a file stopped at any frame delivers every picture up to the last one shown, none missing") {
    TempDir dir;
    write_video(dir / "bframes.mp4", {.frames = 60, .size = {320, 240}, .codec = kBFrames});
    for (std::uint64_t at = 2; at <= 14; ++at) {
        CAPTURE(at);
        Pipeline pipeline;
        auto recorder = std::make_unique<NumberRecorder>();
        NumberRecorder& seen = *recorder;
        pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = dir / "bframes.mp4"}))
            .add(std::make_unique<CallAt>(at, [&pipeline] { pipeline.request_stop(); }))
            .add(std::move(recorder));
        const RunReport report = pipeline.run();
        REQUIRE(report.ok());
        CHECK(report.stopped);
        const std::vector<int> numbers = seen.numbers();
        REQUIRE(numbers.size() > at);
        CHECK(numbers == count_up(static_cast<int>(numbers.size())));
        CHECK(report.sources[0].captured == numbers.size());
        CHECK(report.sources[0].dropped() == 0);
        CHECK(report.balanced());
    }
}

TEST_CASE("stop: a file replayed as live and stopped counts every picture it did not show") {
    TempDir dir;
    write_video(dir / "bframes.mp4", {.frames = 40, .size = {320, 240}, .codec = kBFrames});
    for (std::uint64_t at : {5, 7, 10}) {
        CAPTURE(at);
        Pipeline pipeline;
        auto recorder = std::make_unique<NumberRecorder>();
        NumberRecorder& seen = *recorder;
        pipeline
            .add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = dir / "bframes.mp4", .realtime = true}))
            .add(std::make_unique<CallAt>(at, [&pipeline] { pipeline.request_stop(); }))
            .add(std::move(recorder));
        const RunReport report = pipeline.run();
        REQUIRE(report.ok());
        const std::vector<int> numbers = seen.numbers();
        REQUIRE(numbers.size() > at);
        CHECK(std::is_sorted(numbers.begin(), numbers.end()));
        // A live edge may drop under load; every picture missing before the last one shown is such a counted drop.
        CHECK(holes(numbers) == report.sources[0].dropped());
        CHECK(report.sources[0].captured == report.sources[0].delivered + report.sources[0].dropped());
        CHECK(report.balanced());
    }
}

TEST_CASE("stop: Ctrl-C during a transcode finalises a file holding every delivered frame, in order, none missing") {
    TempDir dir;
    write_video(dir / "long.mp4", {.frames = 500, .size = {320, 240}, .codec = kBFrames});
    std::ofstream(dir / "transcode.yaml") << "stages:\n"
                                             "  - { type: write_video, path: out.mp4, preset: ultrafast }\n";
    for (const auto after : {50ms, 300ms, 600ms}) {  // after the output opened, i.e. once frames flow
        CAPTURE(after.count());
        fs::remove(dir / "out.mp4");
        Process run(fmt::format("'{}' run -q transcode.yaml long.mp4 > out.txt 2> err.txt", FRAMEPIPE_BINARY),
                    dir.path());
        REQUIRE(eventually([&] { return fs::exists(dir / "out.part.mp4") || !run.running(); }, 60s));
        std::this_thread::sleep_for(after);
        run.kill(SIGINT, false);
        const std::optional<int> code = run.wait_for(60s);
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        const std::vector<int> numbers = numbers_in_video(dir / "out.mp4");
        CHECK(numbers == count_up(static_cast<int>(numbers.size())));
        CHECK(slurp(dir / "out.txt").find(fmt::format("{} captured, {} delivered, 0 filtered, 0 rejected, 0 dropped", numbers.size(),
                                                      numbers.size())) != std::string::npos);
    }
}
