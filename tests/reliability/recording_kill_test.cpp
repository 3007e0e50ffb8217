// Recordings killed with SIGKILL at chosen moments, then restarted into the same folders. The moment is chosen by
// frames: a write_images stage after the recording stages writes every frame they passed on (a stage passes a frame on
// only after writing it), so the frames it wrote are a lower bound of what the killed run had written (a live
// source's frames by the numbers burned into them, since one read late skips frames). Asserted: every closed segment
// plays in full; the open one holds every frame written up to flush_interval before the kill (MKV, MPEG-TS,
// fragmented MP4); a restart renames the leftover, which plays, to -recovered; a motion event that was going on has
// its "started" line and no "ended" line, and its open clip is recovered.
#include "media/natural_order.hpp"
#include "support/command.hpp"
#include "support/framepipe_command.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <framepipe/sources/image_source.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int kFps = 30;

// Oldest first (names sort by start time).
std::vector<fs::path> files_with(const fs::path& dir, const std::string& fragment) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().filename().string().find(fragment) != std::string::npos) out.push_back(entry.path());
    std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
        return media::natural_less(a.stem().string(), b.stem().string());
    });
    return out;
}

std::vector<fs::path> closed_files(const fs::path& dir, const std::string& extension) {
    std::vector<fs::path> out;
    for (const fs::path& p : files_with(dir, extension))
        if (p.filename().string().find(".part.") == std::string::npos) out.push_back(p);
    return out;
}

// The highest frame number write_images wrote ("<n>.bmp"), -1 before the first.
int last_seen(const fs::path& seen) {
    int last = -1;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(seen, ec)) {
        const std::string stem = entry.path().stem().string();
        if (!stem.empty() && std::all_of(stem.begin(), stem.end(), ::isdigit)) last = std::max(last, std::stoi(stem));
    }
    return last;
}

// Polls `ready` every 5 ms for at most 30 s (a safety bound: a check fails rather than the test hanging).
template <typename F>
bool wait_until(F ready) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!ready()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// The number burned into the first frame of a video (SyntheticSource's moving pattern), -1 when none decodes.
std::int64_t first_number(const fs::path& video) {
    cv::VideoCapture capture(video.string());
    cv::Mat picture;
    return capture.read(picture) ? SyntheticSource::burned_number_of(picture) : -1;
}

std::int64_t frames_in(const fs::path& video) { return std::max<std::int64_t>(0, ffprobe_frame_count(video.string())); }

}  // namespace

TEST_CASE(
    "record killed mid-segment after a stall that made the camera skip frames: closed segments play in full, the "
    "open one lost at most flush_interval, and a restart recovers it") {
    // container, frames into the open segment (2 s = 60 frames) to kill at
    const std::pair<const char*, int> cases[] = {{"mkv", 40}, {"ts", 25}, {"mp4", 50}};
    for (const auto& [container, into] : cases) {
        const std::string name = container;
        CAPTURE(name);
        TempDir dir;
        const fs::path rec = dir.path() / "rec", seen = dir.path() / "seen";
        std::ofstream(dir / "rec.yaml") << fmt::format(
            "source: {{ live: true, fps: {}, frames: 0, width: 160, height: 120 }}\n"
            "stages:\n"
            "  - {{ type: record, dir: '{}', segment: 2s, flush_interval: 0.5s, container: {} }}\n"
            "  - {{ type: write_images, dir: '{}', file: '{{frame}}.bmp', overwrite: true }}\n",
            kFps, rec.string(), container, seen.string());
        std::int64_t closed_frames = 0;
        {
            Process run(framepipe_command_line(fmt::format("run -q '{}' synthetic", dir / "rec.yaml")));
            // The machine stalls for 0.3 s early in the first segment (as a loaded or paused host does): the camera's
            // frames go on meanwhile, and the source, read late, skips to the newest.
            REQUIRE(wait_until([&] { return images_in(seen) >= 10; }));
            run.kill(SIGSTOP, false);
            std::this_thread::sleep_for(300ms);
            run.kill(SIGCONT, false);
            REQUIRE(wait_until([&] { return !closed_files(rec, container).empty(); }));
            closed_frames = frames_in(closed_files(rec, container).front());
            // Killed `into` frames into the second segment on the camera's clock (not by count: frames the source
            // skips would move the kill later, past the segment's end).
            REQUIRE(wait_until([&] {
                if (images_in(seen) < closed_frames + into / 2) return false;  // cheap first
                const std::vector<std::int64_t> given = burned_numbers_in_images(seen);
                return !given.empty() && given.back() >= 2 * kFps + into;
            }));
            run.kill(SIGKILL);
        }
        const auto closed = closed_files(rec, container);
        REQUIRE(closed.size() == 1);
        // The first segment is the camera's first 2 s: every frame of those the recorder was given, and no other. The
        // frames the source skipped during the stall were never captured, and no segment has them.
        const std::vector<std::int64_t> given = burned_numbers_in_images(seen);
        const auto boundary = std::lower_bound(given.begin(), given.end(), 2 * kFps);
        REQUIRE(boundary != given.end());
        CAPTURE(given.size());
        REQUIRE_MESSAGE(boundary - given.begin() < 2 * kFps, "the stall did not make the source skip a frame");
        CHECK(closed_frames == boundary - given.begin());
        CHECK(first_number(closed[0]) == given.front());
        const auto open = files_with(rec, ".part.");
        REQUIRE(open.size() == 1);
        const std::int64_t written_at_least = given.end() - boundary;
        const std::int64_t survived = frames_in(open[0]);
        CAPTURE(written_at_least);
        CAPTURE(survived);
        CHECK(survived >= written_at_least - kFps / 2);  // flush_interval 0.5 s; the encoder holds no frame back
        CHECK(first_number(open[0]) == *boundary);       // it goes on where the closed one ended

        // A restart into the same folder: the leftover plays, so it is kept as -recovered, with the same frames.
        const CommandResult again =
            run_framepipe(fmt::format("run -q '{}' synthetic --set source.live=false --set source.frames=10",
                                      dir / "rec.yaml"),
                          dir);
        CHECK(again.code == 0);
        CHECK(files_with(rec, ".part.").empty());
        const auto recovered = files_with(rec, "-recovered");
        REQUIRE(recovered.size() == 1);
        CHECK(frames_in(recovered[0]) == survived);
        CHECK(again.err.find("recovered the segment a previous run left open") != std::string::npos);
    }
}

TEST_CASE("record by stream copy killed mid-segment: closed segments hold every packet with the sound, the open one "
          "lost at most flush_interval, and a restart recovers it") {
    TempDir dir;
    // A keyframe every second, with sound, replayed at its own pace as a camera.
    const std::string camera = dir / "camera.mkv";
    write_video(camera, {.frames = 40 * kFps, .size = {160, 120}, .fps = kFps,
                         .codec = "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=40 -c:v libx264 -preset "
                                  "ultrafast -bf 2 -g 30 -pix_fmt yuv420p -c:a aac -b:a 48k"});
    const auto audio_packets = [](const fs::path& file) { return ffprobe_packet_count(file.string(), "a:0"); };
    const fs::path rec = dir.path() / "rec", seen = dir.path() / "seen";
    std::ofstream(dir / "rec.yaml") << fmt::format(
        "source: {{ realtime: true }}\n"
        "stages:\n"
        "  - {{ type: record, from: packets, codec: copy, dir: '{}', segment: 2s, flush_interval: 0.5s }}\n"
        "  - {{ type: write_images, from: source, dir: '{}', file: '{{frame}}.bmp', overwrite: true }}\n",
        rec.string(), seen.string());
    std::int64_t closed_frames = 0;
    {
        Process run(framepipe_command_line(fmt::format("run -q '{}' '{}'", dir / "rec.yaml", camera)));
        REQUIRE(wait_until([&] { return !closed_files(rec, "mkv").empty(); }));
        closed_frames = frames_in(closed_files(rec, "mkv").front());
        REQUIRE(wait_until([&] { return last_seen(seen) >= closed_frames + 40; }));
        run.kill(SIGKILL);
    }
    const auto closed = closed_files(rec, "mkv");
    REQUIRE(closed.size() == 1);
    CHECK(closed_frames == 2 * kFps);
    CHECK(audio_packets(closed.front()) >= 80);  // about 2 s of 48 kHz AAC (47 packets a second)
    const auto open = files_with(rec, ".part.");
    REQUIRE(open.size() == 1);
    CHECK(audio_packets(open[0]) > 0);
    // The pictures branch is behind the packet branch, if anything: what it wrote was recorded.
    const std::int64_t written_at_least = last_seen(seen) + 1 - closed_frames;
    const std::int64_t survived = frames_in(open[0]);
    CAPTURE(written_at_least);
    CAPTURE(survived);
    CHECK(written_at_least >= 40);
    CHECK(survived >= written_at_least - kFps / 2 - 3);  // flush_interval 0.5 s, and B-frames waiting for their reference

    const CommandResult again =
        run_framepipe(fmt::format("run -q '{}' '{}' --set source.realtime=false", dir / "rec.yaml", camera), dir);
    CHECK(again.code == 0);
    CHECK(files_with(rec, ".part.").empty());
    const auto recovered = files_with(rec, "-recovered");
    REQUIRE(recovered.size() == 1);
    CHECK(frames_in(recovered[0]) == survived);
    CHECK(audio_packets(recovered[0]) > 0);
}

TEST_CASE("motion and event_clips killed during an event: events.jsonl has its started line and no ended line, the open "
          "clip holds every frame up to flush_interval before the kill, and a restart recovers it") {
    TempDir dir;
    const fs::path clips = dir.path() / "clips", seen = dir.path() / "seen";
    const std::string events = dir / "events.jsonl";
    std::ofstream(dir / "cam.yaml") << fmt::format(
        "source: {{ live: true, fps: {}, frames: 0, width: 160, height: 120 }}\n"
        "stages:\n"
        "  - {{ type: motion, events: '{}', warmup: 5 }}\n"
        "  - {{ type: event_clips, dir: '{}', pre_roll: 0.5s, flush_interval: 0.5s }}\n"
        "  - {{ type: write_images, dir: '{}', file: '{{frame}}.bmp', overwrite: true }}\n",
        kFps, events, clips.string(), seen.string());
    const auto lines = [&] {
        std::vector<nlohmann::json> out;
        std::ifstream in(events);
        for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
        return out;
    };
    std::int64_t start_frame = -1;
    {
        Process run(framepipe_command_line(fmt::format("run -q '{}' synthetic", dir / "cam.yaml")));
        REQUIRE(wait_until([&] { return !lines().empty(); }));
        start_frame = lines().front()["start_frame"].get<std::int64_t>();
        REQUIRE(wait_until([&] { return last_seen(seen) >= start_frame + 45; }));  // 1.5 s into the event
        run.kill(SIGKILL);
    }
    const auto written = lines();
    REQUIRE(written.size() == 1);  // started, and killed before it ended
    CHECK(written[0]["state"] == "started");
    CHECK(written[0]["event"] == 1);
    const auto open = files_with(clips, ".part.mkv");
    REQUIRE(open.size() == 1);
    const std::int64_t pre_roll = std::min<std::int64_t>(start_frame, kFps / 2 + 1);
    const std::int64_t written_at_least = pre_roll + last_seen(seen) + 1 - start_frame;
    const std::int64_t survived = frames_in(open[0]);
    CAPTURE(written_at_least);
    CAPTURE(survived);
    CHECK(survived >= written_at_least - kFps / 2 - 1);

    const CommandResult again =
        run_framepipe(fmt::format("run -q '{}' synthetic --set source.live=false --set source.frames=5",
                                  dir / "cam.yaml"),
                      dir);
    CHECK(again.code == 0);
    CHECK(files_with(clips, ".part.").empty());
    const auto recovered = files_with(clips, "-recovered.mkv");
    REQUIRE(recovered.size() == 1);
    CHECK(frames_in(recovered[0]) == survived);
}
