// `framepipe run --frames FILE`: a record per frame of a real video through a shipped pipeline, as valid JSON Lines or
// CSV, and a path that cannot be written refused with exit 2 before any input is read or output written.
#include "support/framepipe_command.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace framepipe::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFrames = 12;

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("cli: --frames FILE.jsonl writes one valid JSON record per frame with each stage's times and its end") {
    TempDir dir;
    write_video(dir / "clip.mp4", {.frames = kFrames, .size = {320, 240}});
    const CommandResult result = run_framepipe(
        fmt::format("run -q '{}thumbnails.yaml' clip.mp4 --frames frames.jsonl", pipelines()), dir);
    REQUIRE(result.code == 0);
    const std::vector<std::string> lines = lines_of(dir / "frames.jsonl");
    REQUIRE(lines.size() == kFrames);
    std::set<int> frames;
    for (const std::string& line : lines) {
        const json record = json::parse(line);  // throws (fails the test) when not JSON
        CAPTURE(line);
        frames.insert(record["frame"].get<int>());
        CHECK(record["source"] == "clip.mp4");
        CHECK(record["end"] == "delivered");
        CHECK(record["end_at"] == "sheet");
        std::vector<std::string> stages;
        double previous_end = record["capture_ms"].get<double>();
        for (const json& stage : record["stages"]) {
            stages.push_back(stage["stage"]);
            CHECK(stage["fate"] == "passed");
            CHECK(stage["queued_ms"].get<double>() <= stage["start_ms"].get<double>());
            CHECK(stage["start_ms"].get<double>() <= stage["end_ms"].get<double>());
            CHECK(stage["start_ms"].get<double>() >= previous_end);  // a line: each stage after the one before
            previous_end = stage["end_ms"].get<double>();
        }
        // The planner made one stage of convert, blur and resize (tests/stages/planner_test.cpp).
        CHECK(stages == std::vector<std::string>{"decode", "convert+blur+resize", "thumbs", "sheet"});
    }
    CHECK(frames.size() == kFrames);
    CHECK(result.err.find("frames: frames.jsonl") == std::string::npos);  // -q: no info lines
}

TEST_CASE("cli: --frames FILE.csv writes CSV, a row per frame per stage; --no-plan runs every stage as declared") {
    TempDir dir;
    write_video(dir / "clip.mp4", {.frames = kFrames, .size = {320, 240}});
    const CommandResult result =
        run_framepipe(fmt::format("run -q '{}thumbnails.yaml' clip.mp4 --frames frames.csv --no-plan", pipelines()), dir);
    REQUIRE(result.code == 0);
    const std::vector<std::string> lines = lines_of(dir / "frames.csv");
    REQUIRE(lines.size() == 1 + kFrames * 6);  // decode, convert, blur, resize, thumbs, sheet
    CHECK(lines[0] == "source,input,frame,copy,capture_ms,media_ms,end,end_at,stage,queued_ms,start_ms,end_ms,fate\r");
    for (std::size_t i = 1; i < lines.size(); ++i) {
        CAPTURE(lines[i]);
        CHECK(std::count(lines[i].begin(), lines[i].end(), ',') == 12);
        CHECK(lines[i].rfind("clip.mp4,0,", 0) == 0);
        CHECK(lines[i].find(",delivered,sheet,") != std::string::npos);
        CHECK(lines[i].ends_with(",passed\r"));
    }
}

TEST_CASE("cli: --frames to a path that cannot be written exits with 2 before reading the input or writing anything") {
    TempDir dir;
    write_video(dir / "clip.mp4", {.frames = kFrames, .size = {320, 240}});
    const CommandResult result =
        run_framepipe(fmt::format("run -q '{}thumbnails.yaml' clip.mp4 --frames missing/frames.jsonl", pipelines()), dir);
    CHECK(result.code == 2);
    CHECK(result.err.find("framepipe: cannot write the frames file 'missing/frames.jsonl': No such file or directory; "
                          "choose a path in a folder that exists and that you may write to") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "thumbnails"));  // no stage opened
}
