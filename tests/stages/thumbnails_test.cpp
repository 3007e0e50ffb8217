// Thumbnails and contact sheets: which frames they pick, how files are named, never overwriting by surprise.
#include "stages/template_text.hpp"
#include "support/media.hpp"
#include "support/stage_harness.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/error.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> files_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

cv::Mat solid(cv::Scalar color, cv::Size size = {64, 48}) { return cv::Mat(size, CV_8UC3, color); }

/// The frame numbers on the tiles of a contact sheet (tiles 100 x 75, a 4-pixel gap), row by row; empty when the sheet
/// cannot be read.
std::vector<int> tile_numbers(const fs::path& file) {
    const cv::Mat sheet = cv::imread(file.string());
    std::vector<int> numbers;
    if (sheet.empty()) return numbers;
    const int gap = 4, width = 100, height = 75;
    for (int y = gap; y + height <= sheet.rows; y += height + gap)
        for (int x = gap; x + width <= sheet.cols; x += width + gap)
            numbers.push_back(read_number(sheet(cv::Rect(x, y, width, height))));
    return numbers;
}

}  // namespace

TEST_CASE("thumbnail every N frames writes frames 0, N, 2N ... named by input and frame number") {
    TempDir dir;
    {
        StageHarness thumbs("thumbnail", {{"every", "30"}, {"dir", dir.path().string()}}, "trip.mp4");
        for (std::uint64_t i = 0; i < 100; ++i) CHECK(thumbs.apply(numbered_frame(int(i), {160, 120}), i) == Outcome::pass);
    }
    CHECK(files_in(dir.path()) ==
          std::vector<std::string>{"trip_000000.jpg", "trip_000030.jpg", "trip_000060.jpg", "trip_000090.jpg"});
    CHECK(read_number(cv::imread(dir / "trip_000060.jpg")) == 60);  // the file holds that frame
}

TEST_CASE("thumbnail per interval of media time, with a width and a custom name, as PNG") {
    TempDir dir;
    {
        StageHarness thumbs("thumbnail",
                            {{"interval", "1s"}, {"width", "80"}, {"dir", dir.path().string()},
                             {"file", "{input}-{index}-{time}.png"}},
                            "walk.mkv", 25);
        for (std::uint64_t i = 0; i < 100; ++i) thumbs.apply(numbered_frame(int(i), {160, 120}), i);
    }
    const auto names = files_in(dir.path());
    CHECK(names == std::vector<std::string>{"walk-0-00-00-00.000.png", "walk-1-00-00-01.000.png",
                                            "walk-2-00-00-02.000.png", "walk-3-00-00-03.000.png"});
    const cv::Mat second = cv::imread(dir / "walk-1-00-00-01.000.png");
    CHECK(second.size() == cv::Size(80, 60));
}

TEST_CASE("thumbnail on scene change writes the first frame and each cut, not frames in between") {
    TempDir dir;
    {
        StageHarness thumbs("thumbnail", {{"scene", "0.3"}, {"dir", dir.path().string()}});
        const cv::Scalar scenes[] = {{20, 20, 20}, {230, 230, 230}, {20, 200, 20}};
        for (std::uint64_t i = 0; i < 90; ++i) {
            cv::Mat frame = solid(scenes[i / 30]);
            cv::circle(frame, cv::Point(int(i % 30) + 10, 20), 4, cv::Scalar(128, 128, 128), cv::FILLED);  // small motion
            thumbs.apply(frame, i);
        }
    }
    CHECK(files_in(dir.path()) ==
          std::vector<std::string>{"clip_000000.jpg", "clip_000030.jpg", "clip_000060.jpg"});
}

TEST_CASE("thumbnail best: the sharpest frame of each window") {
    TempDir dir;
    {
        StageHarness thumbs("thumbnail", {{"best", "sharpest"}, {"window", "1s"}, {"dir", dir.path().string()}},
                            "clip.mp4", 10);
        for (std::uint64_t i = 0; i < 30; ++i) {
            cv::Mat frame = numbered_frame(int(i), {160, 120});
            if (i != 3 && i != 17 && i != 24) cv::GaussianBlur(frame, frame, cv::Size(9, 9), 4);  // the rest are soft
            thumbs.apply(frame, i);
        }
    }
    CHECK(files_in(dir.path()) == std::vector<std::string>{"clip_000003.jpg", "clip_000017.jpg", "clip_000024.jpg"});
}

TEST_CASE("thumbnail best: the most representative frame of a window is not the odd one out") {
    TempDir dir;
    {
        StageHarness thumbs("thumbnail", {{"best", "representative"}, {"window", "10s"}, {"dir", dir.path().string()}},
                            "clip.mp4", 1);
        for (std::uint64_t i = 0; i < 10; ++i)  // nine frames near one colour, frame 0 far away
            thumbs.apply(solid(i == 0 ? cv::Scalar(250, 10, 10) : cv::Scalar(40 + double(i), 120, 200)), i);
    }
    const auto names = files_in(dir.path());
    REQUIRE(names.size() == 1);
    CHECK(names[0] != "clip_000000.jpg");
}

TEST_CASE("thumbnail refuses at open a folder holding a file it could write, naming it, unless asked to overwrite") {
    TempDir dir;
    std::ofstream(dir / "clip_000010.jpg") << "precious";
    std::ofstream(dir / "other_000000.jpg") << "another input's";  // not a name this input writes
    CHECK_THROWS_WITH_AS(StageHarness("thumbnail", {{"every", "10"}, {"dir", dir.path().string()}}),
                         doctest::Contains("clip_000010.jpg' already exists, and this run writes "
                                           "'{input}_{frame:06}.jpg' there; set overwrite: true, or choose another dir"),
                         ConfigError);
    CHECK_NOTHROW(StageHarness("thumbnail", {{"every", "10"}, {"dir", dir.path().string()}}, "other_input.mp4"));
    StageHarness replace("thumbnail", {{"every", "10"}, {"dir", dir.path().string()}, {"overwrite", "true"}});
    CHECK(replace.apply(solid({1, 2, 3}), 0) == Outcome::pass);
    CHECK(fs::file_size(dir / "clip_000000.jpg") > 8);
}

TEST_CASE("thumbnail: frames whose labels share a stem get distinct files, the later with a -2 suffix") {
    TempDir dir;
    {
        StageHarness thumbs("thumbnail", {{"every", "1"}, {"dir", dir.path().string()}, {"file", "{label}.jpg"}});
        for (std::uint64_t i = 0; i < 2; ++i) {
            Frame& frame = thumbs.frame(numbered_frame(int(i), {160, 120}), i);
            frame.label = i == 0 ? "frame_0002.jpg" : "frame_0002.png";
            CHECK(thumbs.stage().process(frame) == Outcome::pass);
        }
    }
    CHECK(files_in(dir.path()) == std::vector<std::string>{"frame_0002-2.jpg", "frame_0002.jpg"});
    CHECK(read_number(cv::imread(dir / "frame_0002.jpg")) == 0);
    CHECK(read_number(cv::imread(dir / "frame_0002-2.jpg")) == 1);
}

TEST_CASE("thumbnail options: one selection mode, a writable folder, a known image format") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(make_stage("thumbnail", {{"dir", dir.path().string()}}),
                         doctest::Contains("choose exactly one of every"), ConfigError);
    CHECK_THROWS_AS(make_stage("thumbnail", {{"every", "5"}, {"interval", "2s"}, {"dir", dir.path().string()}}),
                    ConfigError);
    std::ofstream(dir / "a_file") << "x";
    CHECK_NOTHROW(make_stage("thumbnail", {{"every", "5"}, {"dir", dir / "a_file/sub"}}));  // nothing made yet
    CHECK_THROWS_WITH_AS(StageHarness("thumbnail", {{"every", "5"}, {"dir", dir / "a_file/sub"}}),
                         doctest::Contains("cannot create the output folder"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("thumbnail", {{"every", "5"}, {"dir", dir.path().string()}, {"file", "x.gif"}}),
                         doctest::Contains("must end in .jpg, .png, .webp"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("thumbnail", {{"interval", "soon"}, {"dir", dir.path().string()}}),
                         doctest::Contains("option 'interval' must be a duration"), ConfigError);
}

TEST_CASE("contact_sheet: a grid of tiles spread over the whole input, written at the end") {
    TempDir dir;
    {
        StageHarness sheet("contact_sheet",
                           {{"columns", "3"}, {"tiles", "6"}, {"tile_width", "100"}, {"timestamps", "false"},
                            {"dir", dir.path().string()}},
                           "holiday.mp4", 25);
        for (std::uint64_t i = 0; i < 240; ++i) sheet.apply(numbered_frame(int(i), {200, 150}), i);
    }
    const cv::Mat sheet = cv::imread(dir / "holiday_sheet.jpg");
    REQUIRE_FALSE(sheet.empty());
    const int tile_h = 75, gap = 4;
    CHECK(sheet.cols == 3 * (100 + gap) + gap);
    CHECK(sheet.rows == 2 * (tile_h + gap) + gap);
    // Tiles come from across the input: the last tile is from its last third, the first from its start.
    const int first = read_number(sheet(cv::Rect(gap, gap, 100, tile_h)));
    const int last = read_number(sheet(cv::Rect(gap + 2 * (100 + gap), gap + (tile_h + gap), 100, tile_h)));
    CHECK(first == 0);
    CHECK(last >= 160);
}

TEST_CASE("contact_sheet every on a file: one sheet per period of media time, written as each period ends, the "
          "partial last one at the end, named by the period's start") {
    TempDir dir;
    const std::string first = "holiday_sheet_00-00-00.000.jpg", second = "holiday_sheet_00-00-02.000.jpg",
                      last = "holiday_sheet_00-00-04.000.jpg";
    {
        StageHarness sheet("contact_sheet",
                           {{"every", "2s"}, {"columns", "4"}, {"tiles", "4"}, {"tile_width", "100"},
                            {"timestamps", "false"}, {"dir", dir.path().string()}},
                           "holiday.mp4", 10);
        for (std::uint64_t i = 0; i < 50; ++i) {  // 5 s at 10 frames/s: periods [0, 2 s), [2 s, 4 s), [4 s, 5 s)
            sheet.apply(numbered_frame(int(i), {200, 150}), i);
            CAPTURE(i);
            CHECK(fs::exists(dir / first) == (i >= 20));  // written by the first frame of the next period
            CHECK(fs::exists(dir / second) == (i >= 40));
            CHECK_FALSE(fs::exists(dir / last));
        }
    }
    CHECK(files_in(dir.path()) == std::vector<std::string>{first, second, last});
    // Each sheet holds its own period's frames only, spread over it from its first frame.
    CHECK(tile_numbers(dir / first) == std::vector<int>{0, 4, 8, 12});
    CHECK(tile_numbers(dir / second) == std::vector<int>{20, 24, 28, 32});
    CHECK(tile_numbers(dir / last) == std::vector<int>{40, 42, 44, 46});
}

TEST_CASE("contact_sheet every on live input: periods of the local calendar time of capture, on the run's clock, "
          "each sheet named by the time its period started") {
    using namespace std::chrono_literals;
    TempDir dir;
    ManualClock clock;
    const auto wall = std::chrono::sys_days{std::chrono::year{2026} / 3 / 14} + 9h + 41min + 40s;  // 40 s into a minute
    clock.set_wall(wall);  // in UTC, and in every zone whose offset is whole minutes
    const TimePoint start = clock.now();
    const auto name = [&](std::chrono::seconds from_start) {
        return "cam_sheet_" + stages::file_clock(wall + from_start) + ".jpg";
    };
    {
        StageHarness sheet("contact_sheet",
                           {{"every", "1min"}, {"columns", "8"}, {"tile_width", "100"}, {"timestamps", "false"},
                            {"dir", dir.path().string()}},
                           "cam", 25, &clock, /*live=*/true);
        for (int i = 0; i < 10; ++i) {  // captured 10 s apart: :41:40 :41:50 | :42:00 ... :42:50 | :43:00 :43:10
            clock.set(start + 10s * i);
            Frame& frame = sheet.frame(numbered_frame(i, {200, 150}), std::uint64_t(i));
            frame.capture_time = clock.now();
            frame.media_time = 10s * (i % 3);  // a live input's media time restarts on reconnects: it plays no part
            CHECK(sheet.stage().process(frame) == Outcome::pass);
        }
        CHECK(files_in(dir.path()) == std::vector<std::string>{name(-40s), name(20s)});  // the open period's: not yet
    }
    CHECK(files_in(dir.path()) == std::vector<std::string>{name(-40s), name(20s), name(80s)});
    CHECK(tile_numbers(dir / name(-40s)) == std::vector<int>{0, 1});
    CHECK(tile_numbers(dir / name(20s)) == std::vector<int>{2, 3, 4, 5, 6, 7});
    CHECK(tile_numbers(dir / name(80s)) == std::vector<int>{8, 9});
}

TEST_CASE("contact_sheet every: a name template with {index} numbers the sheets instead; a period under 1 s is "
          "refused") {
    TempDir dir;
    {
        StageHarness sheet("contact_sheet",
                           {{"every", "1s"}, {"tiles", "2"}, {"dir", dir.path().string()}, {"file", "{input}-{index}.png"}},
                           "walk.mkv", 4);
        for (std::uint64_t i = 0; i < 10; ++i) sheet.apply(numbered_frame(int(i), {200, 150}), i);
    }
    CHECK(files_in(dir.path()) == std::vector<std::string>{"walk-0.png", "walk-1.png", "walk-2.png"});
    CHECK_THROWS_WITH_AS(make_stage("contact_sheet", {{"every", "500ms"}, {"dir", dir.path().string()}}),
                         doctest::Contains("every"), ConfigError);
}
