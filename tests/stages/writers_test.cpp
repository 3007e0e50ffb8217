// Writers: videos that ffprobe plays with the expected frame count (and that decode back in order) and the source's
// timestamps, written under a .part name until finished; paths that cannot be written refused before any frame; image
// sequences, and clear errors for codecs and containers the system lacks.
#include "support/media.hpp"
#include "support/recorders.hpp"
#include "support/stage_harness.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

void write_frames(const std::string& path, const std::map<std::string, std::string>& extra, int frames, cv::Size size) {
    std::map<std::string, std::string> options = extra;
    options["path"] = path;
    StageHarness writer("write_video", options, "clip.mp4", 25);
    for (int i = 0; i < frames; ++i) CHECK(writer.apply(numbered_frame(i, size), std::uint64_t(i)) == Outcome::pass);
    writer.close();
}

std::vector<int> decode_numbers(const std::string& path) {
    auto sink = std::make_unique<NumberRecorder>();
    NumberRecorder& recorder = *sink;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = path})).add(std::move(sink));
    REQUIRE(pipeline.run().ok());
    std::vector<int> numbers;
    for (const auto& seen : recorder.seen()) numbers.push_back(seen.number);
    return numbers;
}

// Presentation times of the file's video packets, in seconds from the first, in presentation order.
std::vector<double> packet_times(const std::string& path, const TempDir& dir) {
    const std::string listing = dir / "times.txt";
    REQUIRE(run(fmt::format("ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 '{}' > '{}'",
                            path, listing)) == 0);
    std::vector<double> times;
    std::ifstream in(listing);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) times.push_back(std::stod(line));
    std::sort(times.begin(), times.end());
    const double first = times.empty() ? 0.0 : times.front();
    for (double& t : times) t -= first;
    return times;
}

}  // namespace

TEST_CASE("write_video: H.264 in MP4 probes with every frame, and decodes back in order") {
    TempDir dir;
    const std::string path = dir / "out.mp4";
    write_frames(path, {}, 48, {320, 240});
    CHECK(ffprobe_stream_field(path, "codec_name") == "h264");
    CHECK(ffprobe_stream_field(path, "width") == "320");
    CHECK(ffprobe_frame_count(path) == 48);
    CHECK(decode_numbers(path) == count_up(48));
}

TEST_CASE("write_video: other codecs and containers by name") {
    TempDir dir;
    const std::tuple<const char*, const char*, const char*> cases[] = {
        {"lossless.mkv", "ffv1", "ffv1"}, {"motion.avi", "mjpeg", "mjpeg"}, {"web.webm", "vp9", "vp9"},
        {"old.mkv", "mpeg4", "mpeg4"},    {"stream.ts", "h264", "h264"}};
    for (auto [file, codec, probed] : cases) {
        const std::string name = file;
        CAPTURE(name);
        const std::string path = dir / file;
        write_frames(path, {{"codec", codec}}, 20, {320, 240});
        CHECK(ffprobe_stream_field(path, "codec_name") == probed);
        CHECK(ffprobe_frame_count(path) == 20);
        CHECK(decode_numbers(path) == count_up(20));
    }
}

TEST_CASE("write_video: gray frames and frames that change size still make a playable video") {
    TempDir dir;
    const std::string path = dir / "mixed.mp4";
    {
        StageHarness writer("write_video", {{"path", path}}, "clip.mp4", 25);
        cv::Mat gray;
        cv::cvtColor(numbered_frame(0, {320, 240}), gray, cv::COLOR_BGR2GRAY);
        writer.apply(gray, 0);
        writer.apply(numbered_frame(1, {640, 480}), 1);  // scaled to the video's 320x240
        writer.apply(numbered_frame(2, {320, 240}), 2);
        writer.close();
    }
    CHECK(ffprobe_frame_count(path) == 3);
    CHECK(ffprobe_stream_field(path, "width") == "320");
}

TEST_CASE("write_video: a codec or container this system lacks is a configuration error that says what exists") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(make_stage("write_video", {{"path", dir / "x.mp4"}, {"codec", "nosuchcodec"}}),
                         doctest::Contains("has no 'nosuchcodec' video encoder; available: "), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("write_video", {{"path", dir / "x.nothing"}}),
                         doctest::Contains("cannot tell the container"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("write_video", {{"path", dir / "x.webm"}, {"codec", "h264"}}),
                         doctest::Contains("container cannot hold h264"), ConfigError);
}

TEST_CASE("write_video: an existing file is not overwritten unless asked") {
    TempDir dir;
    const std::string path = dir / "exists.mp4";
    write_frames(path, {}, 5, {160, 120});
    CHECK_THROWS_WITH_AS(StageHarness("write_video", {{"path", path}}), doctest::Contains("already exists"), ConfigError);
    write_frames(path, {{"overwrite", "true"}}, 7, {160, 120});
    CHECK(ffprobe_frame_count(path) == 7);
}

TEST_CASE("write_video: the source's timestamps are kept: a gap stays a gap, a repeated or backward time moves one "
          "tick forward") {
    TempDir dir;
    // Media times in ms: 40 ms apart, a gap of 420 ms, a repeated time and one that goes back.
    const int times_ms[] = {0, 40, 80, 500, 540, 540, 500, 1000};
    for (const char* file : {"vfr.mkv", "vfr.mp4", "vfr.ts"}) {
        CAPTURE(file);
        const std::string path = dir / file;
        {
            StageHarness writer("write_video", {{"path", path}}, "clip.mp4", 25);
            for (std::size_t i = 0; i < std::size(times_ms); ++i) {
                Frame& frame = writer.frame(numbered_frame(static_cast<int>(i), {160, 120}), i);
                frame.media_time = std::chrono::milliseconds(times_ms[i]);
                REQUIRE(writer.stage().process(frame) == Outcome::pass);
            }
            writer.close();
        }
        const std::vector<double> times = packet_times(path, dir);
        REQUIRE(times.size() == std::size(times_ms));
        for (std::size_t i : {0U, 1U, 2U, 3U, 4U, 7U}) CHECK(times[i] == doctest::Approx(times_ms[i] / 1000.0).epsilon(0.0005));
        CHECK(times[5] > times[4]);  // the repeated time, one tick later
        CHECK(times[6] > times[5]);  // the backward one, one more tick later
        CHECK(times[6] - times[4] <= 0.0021);
        CHECK(decode_numbers(path) == count_up(8));
    }
}

TEST_CASE("write_video: a path it cannot write is refused at open, before any frame, saying what to do") {
    TempDir dir;
    std::ofstream(dir / "plain") << "a regular file";
    const std::string under_file = "cannot create the folder '" + (dir / "plain") + "'";
    CHECK_THROWS_WITH_AS(StageHarness("write_video", {{"path", dir / "plain/out.mp4"}}),
                         doctest::Contains(under_file.c_str()), ConfigError);

    // A read-only folder: permission bits do not stop root, a read-only mount does.
    const std::string locked = dir / "locked";
    fs::create_directories(locked);
    bool mounted = false;
    if (::geteuid() == 0) {
        mounted = ::mount("tmpfs", locked.c_str(), "tmpfs", MS_RDONLY, "size=64k") == 0;
        if (!mounted) {
            MESSAGE("running as root and cannot mount a read-only tmpfs: the read-only folder is not exercised");
            return;
        }
    } else {
        fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    }
    const std::string read_only = "cannot write in the folder '" + locked + "'";
    CHECK_THROWS_WITH_AS(StageHarness("write_video", {{"path", locked + "/out.mp4"}}),
                         doctest::Contains(read_only.c_str()), ConfigError);
    CHECK_THROWS_WITH_AS(StageHarness("write_video", {{"path", locked + "/out.mp4"}}),
                         doctest::Contains("choose a folder you can write to"), ConfigError);
    if (mounted) ::umount2(locked.c_str(), MNT_DETACH);
}

TEST_CASE("write_video: the file is written under a .part name and renamed when finished; no frame, no file; "
          "fragmented MP4 is written under its final name") {
    TempDir dir;
    const std::string path = dir / "out.mp4";
    const std::string part = dir / "out.part.mp4";
    {
        StageHarness writer("write_video", {{"path", path}});
        CHECK(fs::exists(part));  // created at open: a permission problem shows before any frame
        for (int i = 0; i < 10; ++i) writer.apply(numbered_frame(i, {160, 120}), std::uint64_t(i));
        CHECK_FALSE(fs::exists(path));
        writer.close();
    }
    CHECK_FALSE(fs::exists(part));
    CHECK(ffprobe_frame_count(path) == 10);
    {
        StageHarness writer("write_video", {{"path", dir / "none.mp4"}});
    }
    CHECK_FALSE(fs::exists(dir / "none.mp4"));
    CHECK_FALSE(fs::exists(dir / "none.part.mp4"));
    {
        StageHarness writer("write_video", {{"path", dir / "frag.mp4"}, {"fragmented", "true"}});
        for (int i = 0; i < 10; ++i) writer.apply(numbered_frame(i, {160, 120}), std::uint64_t(i));
        CHECK(fs::exists(dir / "frag.mp4"));
    }
    CHECK(ffprobe_frame_count(dir / "frag.mp4") == 10);
}

TEST_CASE("write_video: two writers of one output at once (an input run twice) write separate .part files, and the "
          "final file is whole; a .part file nobody holds is taken over") {
    TempDir dir;
    const std::string path = dir / "out.mp4";
    std::ofstream(dir / "out.part.mp4") << "left by a killed run";  // held by no one
    {
        StageHarness first("write_video", {{"path", path}, {"overwrite", "true"}});
        StageHarness second("write_video", {{"path", path}, {"overwrite", "true"}});
        CHECK(fs::exists(dir / "out.part.mp4"));
        CHECK(fs::exists(dir / "out.part-2.mp4"));  // the first holds out.part.mp4
        for (int i = 0; i < 10; ++i) {
            first.apply(numbered_frame(i, {160, 120}), std::uint64_t(i));
            second.apply(numbered_frame(i, {160, 120}), std::uint64_t(i));
        }
        first.close();
        CHECK(ffprobe_frame_count(path) == 10);
        second.close();
    }
    CHECK(ffprobe_frame_count(path) == 10);
    CHECK_FALSE(fs::exists(dir / "out.part.mp4"));
    CHECK_FALSE(fs::exists(dir / "out.part-2.mp4"));
}

TEST_CASE("write_video: a write that fails (a full device) throws naming the file and why, leaves the .part name, and "
          "releases the encoder, muxer and file on that path (AddressSanitizer's leak check covers it)") {
    TempDir dir;
    // The .part file is a link to /dev/full: it opens, and every write fails with ENOSPC.
    fs::create_symlink("/dev/full", dir / "full.part.mp4");
    StageHarness writer("write_video", {{"path", dir / "full.mp4"}, {"overwrite", "true"}}, "clip.mp4", 25);
    std::string error;
    for (int i = 0; i < 200 && error.empty(); ++i) {
        try {
            writer.apply(numbered_frame(i, {320, 240}), std::uint64_t(i));
        } catch (const Error& e) {
            error = e.what();
        }
    }
    CHECK(error.find("full.part.mp4") != std::string::npos);
    CHECK(error.find("No space left on device") != std::string::npos);
    CHECK_THROWS_WITH_AS(writer.apply(numbered_frame(0, {320, 240}), 200), doctest::Contains("write after finish"),
                         Error);
    writer.close();
    CHECK_FALSE(fs::exists(dir / "full.mp4"));  // a half file never takes the final name
}

TEST_CASE("write_images: one file per frame, named by the template") {
    TempDir dir;
    {
        StageHarness writer("write_images", {{"dir", dir.path().string()}, {"file", "{input}-{frame:03}.png"}}, "cam.mp4");
        for (int i = 0; i < 5; ++i) writer.apply(numbered_frame(i, {160, 120}), std::uint64_t(i));
    }
    for (int i = 0; i < 5; ++i) CHECK(read_number(cv::imread(dir / fmt::format("cam-{:03}.png", i))) == i);
}
