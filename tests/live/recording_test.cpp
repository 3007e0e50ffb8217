// Segmented recording: segments close on time and probe with every frame; a SIGKILL loses at most the end of the open
// segment; a restart recovers it and overwrites nothing; retention removes the oldest first; a full disk stops the
// recording only, with a clear reason, intact closed segments and the frames it could not write counted (a real tmpfs
// where the machine allows mounting one, a file-size limit otherwise). Kills at chosen moments and rotation on a full
// disk frame by frame: tests/reliability/recording_*_test.cpp.
#include "media/natural_order.hpp"
#include "support/framepipe_command.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/stage_harness.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>
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
#include <sys/mount.h>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Oldest first: segment names sort by their start time, then by the -2, -3 ... of same-second segments.
std::vector<fs::path> files_with(const fs::path& dir, const std::string& fragment) {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().filename().string().find(fragment) != std::string::npos) out.push_back(entry.path());
    std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
        return media::natural_less(a.stem().string(), b.stem().string());
    });
    return out;
}

std::vector<fs::path> closed_segments(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const fs::path& p : files_with(dir, ".mkv"))
        if (p.filename().string().find(".part.") == std::string::npos) out.push_back(p);
    return out;
}

RunReport record(const std::string& dir, std::int64_t frames, std::map<std::string, std::string> options, bool live = false) {
    options["dir"] = dir;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 160, .height = 120, .frames = frames, .fps = 30, .live = live}))
        .add(make_stage("record", options));
    return pipeline.run();
}

// A tmpfs mounted at `path` for the test's duration, detached (lazily: open files do not stop it) when the object goes,
// so a failed REQUIRE never leaves it mounted. ok() is false where the machine does not allow mounting.
class Tmpfs {
public:
    Tmpfs(const std::string& path, const std::string& size, unsigned long flags = 0) : path_(path) {
        fs::create_directories(path);
        ok_ = ::mount("tmpfs", path.c_str(), "tmpfs", flags, ("size=" + size).c_str()) == 0;
    }
    ~Tmpfs() {
        if (ok_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }

private:
    std::string path_;
    bool ok_ = false;
};

}  // namespace

TEST_CASE("record: segments close on time, are renamed when closed, and each probes with its frames") {
    TempDir dir;
    const RunReport report = record(dir.path().string(), 95, {{"segment", "1s"}});
    REQUIRE(report.ok());
    const auto segments = closed_segments(dir.path());
    REQUIRE(segments.size() == 4);  // 30 + 30 + 30 + 5 frames at 30 fps
    CHECK(files_with(dir.path(), ".part.").empty());
    const std::int64_t expected[] = {30, 30, 30, 5};
    for (std::size_t i = 0; i < segments.size(); ++i) {
        CAPTURE(segments[i].string());
        CHECK(segments[i].filename().string().rfind("synthetic_", 0) == 0);
        CHECK(ffprobe_frame_count(segments[i].string()) == expected[i]);
    }
}

TEST_CASE("record: after SIGKILL every closed segment plays in full; a restart recovers the open one and overwrites "
          "nothing") {
    TempDir dir;
    // write_images after record writes every frame record passed on (after writing it): what record was given.
    const fs::path seen = dir.path() / "seen";
    std::ofstream(dir / "rec.yaml") << fmt::format(
        "source: {{ live: true, fps: 30, frames: 0, width: 160, height: 120 }}\n"
        "stages:\n"
        "  - {{ type: record, dir: '{}', segment: 1s, flush_interval: 0.1s, crf: 10 }}\n"  // every frame's number reads back
        "  - {{ type: write_images, dir: '{}', file: '{{frame}}.bmp', overwrite: true }}\n",
        dir.path().string(), seen.string());
    {
        Process run(framepipe_command_line(fmt::format("run -q '{}' synthetic", dir / "rec.yaml")));
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (closed_segments(dir.path()).size() < 3 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(50ms);
        // Killed well inside the fourth second, past its first flushes: once record passed on a frame of 3.3 s (checked
        // by file count first: decoding every picture at each poll would load the machine the test runs on).
        while (std::chrono::steady_clock::now() < until) {
            if (images_in(seen.string()) >= 90) {
                const auto given = burned_numbers_in_images(seen.string());
                if (!given.empty() && given.back() >= 99) break;
            }
            std::this_thread::sleep_for(50ms);
        }
        run.kill(SIGKILL);
    }
    const auto closed = closed_segments(dir.path());
    REQUIRE(closed.size() >= 3);
    // A segment holds one second of the camera's clock (frames 30 k to 30 k + 29), and in full: every frame of that
    // second record was given. A frame the source skipped (read late, on a loaded machine) was never given, and is in
    // no segment.
    const std::vector<std::int64_t> given = burned_numbers_in_images(seen.string());
    REQUIRE(!given.empty());
    for (const fs::path& segment : closed) {
        CAPTURE(segment.string());
        const std::vector<std::int64_t> in_file = burned_numbers_in_video(segment.string());
        REQUIRE(!in_file.empty());
        const std::int64_t second = in_file.front() / 30;
        const auto from = std::lower_bound(given.begin(), given.end(), 30 * second);
        const auto to = std::lower_bound(given.begin(), given.end(), 30 * second + 30);
        const auto given_in_second = to - from;
        const std::int64_t first_in_file = in_file.front(), last_in_file = in_file.back();
        CAPTURE(in_file.size());
        CAPTURE(given_in_second);
        CAPTURE(first_in_file);
        CAPTURE(last_in_file);
        // write_images runs frames side by side, so at the kill the last frames' pictures may be missing out of
        // order: a second that ends less than 10 frames before the newest picture is only checked for what is there.
        if (given.back() < 30 * second + 30 + 10) {
            CHECK(std::includes(in_file.begin(), in_file.end(), from, to));
            CHECK(in_file.back() < 30 * second + 30);
        } else {
            CHECK(in_file == std::vector<std::int64_t>(from, to));  // complete
        }
    }
    const auto open = files_with(dir.path(), ".part.");
    CHECK(open.size() <= 1);  // at most the open segment did not close
    std::map<std::string, std::uintmax_t> sizes;
    for (const fs::path& segment : closed) sizes[segment.string()] = fs::file_size(segment);

    // Run again into the same folder: the leftover open segment is recovered, new segments are added, none replaced.
    const RunReport again = record(dir.path().string(), 45, {{"segment", "1s"}});
    REQUIRE(again.ok());
    CHECK(files_with(dir.path(), ".part.").empty());
    CHECK(files_with(dir.path(), "-recovered").size() == open.size());
    for (const auto& [path, size] : sizes) CHECK(fs::file_size(path) == size);
    CHECK(closed_segments(dir.path()).size() >= closed.size() + open.size() + 2);
}

TEST_CASE("record: retention removes the oldest segments first, by count, size and age, never the open one") {
    TempDir dir;
    SUBCASE("by count") {
        const RunReport report = record(dir.path().string(), 150, {{"segment", "1s"}, {"max_segments", "2"}});
        REQUIRE(report.ok());
        const auto segments = closed_segments(dir.path());
        REQUIRE(segments.size() == 2);
        CHECK(ffprobe_frame_count(segments.back().string()) == 30);  // the newest survive
    }
    SUBCASE("by age, including old segments from an earlier run") {
        for (const char* old : {"synthetic_20200101-000000.mkv", "synthetic_20200101-000100.mkv"}) {
            std::ofstream(dir / old) << "old";
            fs::last_write_time(dir / old, fs::file_time_type::clock::now() - std::chrono::hours(48));
        }
        std::ofstream(dir / "other_20200101-000000.mkv") << "not this input's";
        const RunReport report = record(dir.path().string(), 60, {{"segment", "1s"}, {"keep_for", "24h"}});
        REQUIRE(report.ok());
        CHECK_FALSE(fs::exists(dir / "synthetic_20200101-000000.mkv"));
        CHECK_FALSE(fs::exists(dir / "synthetic_20200101-000100.mkv"));
        CHECK(fs::exists(dir / "other_20200101-000000.mkv"));  // another input's files are not touched
        CHECK(closed_segments(dir.path()).size() == 3);        // the other input's file and the 2 new segments
    }
    SUBCASE("by total size") {
        const RunReport report = record(dir.path().string(), 180, {{"segment", "1s"}, {"max_total_mb", "0.05"}});
        REQUIRE(report.ok());
        std::uintmax_t total = 0;
        for (const fs::path& p : closed_segments(dir.path())) total += fs::file_size(p);
        CHECK(total <= 52429);
        CHECK_FALSE(closed_segments(dir.path()).empty());
    }
}

TEST_CASE("record: a full disk stops the recording only: the run goes on, the summary says why, the open segment "
          "keeps what reached the disk and every frame not written is counted") {
    TempDir dir;
    const std::string small = dir / "small";
    const Tmpfs disk(small, "400k");
    const bool mounted = disk.ok();
    std::string config = fmt::format("source: {{ fps: 30, frames: 600, width: 320, height: 240 }}\n"
                                     "stages:\n  - {{ type: record, dir: '{}', segment: 1s, crf: 10 }}\n"
                                     "  - {{ type: 'null' }}\n",
                                     small);
    std::ofstream(dir / "rec.yaml") << config;
    // Without a tmpfs, a file-size limit (below one segment) makes the writes fail the same way (EFBIG, not ENOSPC).
    if (!mounted) MESSAGE("cannot mount a tmpfs here: a file-size limit stands in for the full disk");
    const std::string limit = mounted ? "" : "trap '' XFSZ; ulimit -f 40; ";
    const int code = run(fmt::format("{}{} > '{}' 2> '{}'", limit,
                                     framepipe_command_line(fmt::format("run -q '{}' synthetic --report '{}'",
                                                                        dir / "rec.yaml", dir / "report.json")),
                                     dir / "out.txt", dir / "err.txt"));
    std::ifstream out(dir / "out.txt");
    const std::string summary((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
    CAPTURE(summary);
    CHECK(code == 0);  // the run itself went on to the end
    CHECK(summary.find("record: output stopped: recording stopped: ") != std::string::npos);
    CHECK(summary.find("closed segments in") != std::string::npos);
    CHECK(summary.find(mounted ? "free some space, or set on_full_disk: rotate" : "check the disk") !=
          std::string::npos);
    const auto segments = closed_segments(small);
    if (mounted) CHECK(segments.size() >= 2);  // a 400 KB disk holds several segments before it fills
    std::int64_t recorded = 0;
    for (const fs::path& segment : segments) {
        CAPTURE(segment.string());
        const std::int64_t frames = ffprobe_frame_count(segment.string());
        CHECK(frames > 0);
        if (segment != segments.back()) CHECK(frames == 30);  // complete; the last kept what reached the disk
        recorded += frames;
    }
    CHECK(files_with(small, ".part.").empty());

    // Every frame passed on; what the recording lacks is counted as unwritten (frames after the failed segment's last
    // flush may have partly reached the file, so the count can only be higher than what ffprobe misses).
    const auto report = nlohmann::json::parse(std::ifstream(dir / "report.json"));
    const auto& stages = report["sources"][0]["stages"];
    const auto& rec = stages[0];
    CHECK(rec["name"] == "record");
    CHECK(rec["output_stopped"].get<std::string>().find("recording stopped") != std::string::npos);
    CHECK(stages[1]["processed"] == 600);
    const auto unwritten = rec["unwritten"].get<std::int64_t>();
    CHECK(unwritten >= 600 - recorded);
    CHECK(unwritten <= 600 - recorded + 30);  // at most the one second (flush_interval) before the failure
}

TEST_CASE("record: on_full_disk rotate deletes the oldest closed segments to make room, never the open one, and loses "
          "no frame: the newest segments remain, whole and in sequence") {
    TempDir dir;
    const std::string small = dir / "small";
    const Tmpfs disk(small, "400k");
    if (!disk.ok()) {
        MESSAGE("cannot mount a tmpfs here; rotation on a full disk is not exercised");
        return;
    }
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 320, .height = 240, .frames = 600, .fps = 30}))
        .add(make_stage("record", {{"dir", small}, {"segment", "1s"}, {"crf", "10"}, {"on_full_disk", "rotate"}}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const StageReport& rec = report.sources.at(0).stages.at(0);
    CHECK(rec.unwritten == 0);
    CHECK(rec.output_stopped.empty());
    const auto segments = closed_segments(small);
    CHECK(files_with(small, ".part.").empty());
    REQUIRE(segments.size() >= 2);
    CHECK(segments.size() < 20);  // the disk cannot hold all 20: the oldest went
    // The remaining segments are exactly the last ones: frames 600 - 30 * n .. 599, 30 to a segment, in order.
    int expected = 600 - 30 * static_cast<int>(segments.size());
    for (const fs::path& segment : segments) {
        CAPTURE(segment.string());
        cv::VideoCapture video(segment.string());
        cv::Mat picture;
        int frames = 0;
        while (video.read(picture)) {
            CHECK(SyntheticSource::burned_number_of(picture) == expected);
            ++expected;
            ++frames;
        }
        CHECK(frames == 30);
    }
    CHECK(expected == 600);
}

TEST_CASE("record: on_full_disk rotate on a disk smaller than one segment keeps what fits of each, resumes at the "
          "next segment boundary, and counts the frames in between as unwritten") {
    TempDir dir;
    const std::string tiny = dir / "tiny";
    const Tmpfs disk(tiny, "48k");
    if (!disk.ok()) {
        MESSAGE("cannot mount a tmpfs here; rotation on a disk smaller than a segment is not exercised");
        return;
    }
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 320, .height = 240, .frames = 300, .fps = 30}))
        .add(make_stage("record", {{"dir", tiny}, {"segment", "1s"}, {"crf", "5"}, {"flush_interval", "0.2s"},
                                   {"on_full_disk", "rotate"}}));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const StageReport& rec = report.sources.at(0).stages.at(0);
    CHECK(rec.output_stopped.empty());  // rotation never stops the recording
    CHECK(rec.processed == 300);
    CHECK(rec.unwritten > 0);
    CHECK(files_with(tiny, ".part.").empty());
    const auto segments = closed_segments(tiny);
    REQUIRE_FALSE(segments.empty());
    // What remains is the start of the last segment (frames 270 ...): every earlier one was deleted to make room.
    cv::VideoCapture last(segments.back().string());
    cv::Mat picture;
    REQUIRE(last.read(picture));
    CHECK(SyntheticSource::burned_number_of(picture) == 270);
    // Each segment kept its start and lost its end: some frames of every one were written, some counted.
    CHECK(rec.unwritten < 300 - 10);
}

TEST_CASE("record: a segment keeps the source's timestamps, gaps included") {
    TempDir dir;
    {
        StageHarness record("record", {{"dir", dir.path().string()}, {"segment", "10s"}}, "cam", 25);
        const int times_ms[] = {0, 40, 80, 120, 1120, 1160, 3000, 3040};  // a camera that paused twice
        for (std::size_t i = 0; i < std::size(times_ms); ++i) {
            Frame& frame = record.frame(numbered_frame(static_cast<int>(i), {160, 120}), i);
            frame.media_time = std::chrono::milliseconds(times_ms[i]);
            REQUIRE(record.stage().process(frame) == Outcome::pass);
        }
        record.close();
    }
    const auto segments = closed_segments(dir.path());
    REQUIRE(segments.size() == 1);
    REQUIRE(run(fmt::format("ffprobe -v error -show_entries packet=pts_time -of csv=p=0 '{}' > '{}'",
                            segments[0].string(), dir / "times.txt")) == 0);
    std::vector<double> times;
    std::ifstream in(dir / "times.txt");
    for (std::string line; std::getline(in, line);) times.push_back(std::stod(line));
    CHECK(times == std::vector<double>{0, 0.04, 0.08, 0.12, 1.12, 1.16, 3.0, 3.04});
}

TEST_CASE("record: a restart removes leftovers that hold no playable frame (empty, header only) and recovers the one "
          "that plays") {
    TempDir dir;
    RunReport first = record(dir.path().string(), 30, {{"segment", "10s"}});
    REQUIRE(first.ok());
    const fs::path whole = closed_segments(dir.path()).at(0);
    fs::rename(whole, dir / "synthetic_20200101-000000.part.mkv");  // plays: recovered
    std::ofstream(dir / "synthetic_20200101-000100.part.mkv");      // killed before anything reached the disk
    {
        std::ifstream in(dir / "synthetic_20200101-000000.part.mkv", std::ios::binary);
        std::string head(400, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        std::ofstream(dir / "synthetic_20200101-000200.part.mkv", std::ios::binary) << head;  // a header, no frame
    }
    const RunReport again = record(dir.path().string(), 10, {{"segment", "10s"}});
    REQUIRE(again.ok());
    CHECK(files_with(dir.path(), ".part.").empty());
    const auto recovered = files_with(dir.path(), "-recovered");
    REQUIRE(recovered.size() == 1);
    CHECK(recovered[0].filename() == "synthetic_20200101-000000-recovered.mkv");
    CHECK(ffprobe_frame_count(recovered[0].string()) == 30);
    CHECK(closed_segments(dir.path()).size() == 2);  // the recovered one and the restart's own
}
