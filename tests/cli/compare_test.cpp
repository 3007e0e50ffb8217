// `framepipe compare PIPELINE INPUT...`: the user's pipeline on their inputs in five ways, one table (or JSON) whose
// figures add up and whose ways wrote the same frames and files; bad requests refused before anything runs.
#include "support/framepipe_command.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

using namespace framepipe::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kWays{"sequential", "thread_per_input", "process_per_input", "graph_no_plan", "graph"};

void two_videos(const TempDir& dir) {
    write_video(dir / "a.mp4", {.frames = 60, .size = {320, 240}, .fps = 30});
    write_video(dir / "b.mp4", {.frames = 45, .size = {320, 240}, .fps = 30});
}

}  // namespace

TEST_CASE("compare: five ways of the same job in one table, each delivering every frame and the same thumbnails") {
    TempDir dir;
    two_videos(dir);
    const CommandResult r = run_framepipe(fmt::format("compare '{}thumbnails.yaml' a.mp4 b.mp4", pipelines()), dir,
                                          std::chrono::seconds(300));
    CAPTURE(r.out);
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    const std::regex row(R"(^(sequential|thread per input|process per input|graph, no planner|framepipe graph) +)"
                         R"(([\d.]+) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+)x +)"
                         R"((\d+) files, ([0-9a-f]{16}), (.*)$)");
    std::vector<std::smatch> rows;
    std::istringstream lines(r.out);
    std::vector<std::string> kept;
    for (std::string line; std::getline(lines, line);) kept.push_back(line);
    for (const std::string& line : kept) {
        std::smatch m;
        if (std::regex_match(line, m, row)) rows.push_back(m);
    }
    REQUIRE(rows.size() == 5);
    CHECK(rows[0][1] == "sequential");
    CHECK(rows[4][1] == "framepipe graph");
    CHECK(rows[0][10] == "1.00");  // the reference's speed-up
    CHECK(rows[0][13] == "reference");
    for (const auto& m : rows) {
        CAPTURE(m[0].str());
        CHECK(m[3] == "105");  // every frame of both inputs, whichever way
        CHECK(m[11] == "4");   // a thumbnail every 2 s (one in 2 s and in 1.5 s) and a contact sheet per input
        if (m[1] != "sequential" && m[1] != "framepipe graph") CHECK(m[13] == "same");  // identical bytes
    }
    // The planner changes pixels by at most 2 levels (tests/stages/planner_test.cpp): the JPEGs may differ.
    CHECK((rows[4][13] == "same" || rows[4][13] == "same frames, other bytes"));
    CHECK(r.out.find("fastest: ") != std::string::npos);
}

TEST_CASE("compare: --json gives the same figures to scripts, consistent with each other, and --out keeps outputs") {
    TempDir dir;
    two_videos(dir);
    const CommandResult r = run_framepipe(
        fmt::format("compare '{}thumbnails.yaml' a.mp4 b.mp4 --json --out kept", pipelines()), dir,
        std::chrono::seconds(300));
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    const json table = json::parse(r.out);
    CHECK(table["inputs"] == json::array({"a.mp4", "b.mp4"}));
    REQUIRE(table["ways"].size() == kWays.size());
    for (std::size_t i = 0; i < kWays.size(); ++i) {
        const json& way = table["ways"][i];
        CAPTURE(way.dump());
        CHECK(way["way"] == kWays[i]);
        CHECK(way["frames"] == 105);
        CHECK(way["captured"] == 105);
        CHECK(way["error"].is_null());
        CHECK(way["fps"].get<double>() == doctest::Approx(105 / way["wall_s"].get<double>()));
        CHECK(way["cores_used"].get<double>() == doctest::Approx(way["cpu_s"].get<double>() / way["wall_s"].get<double>()));
        CHECK(way["speedup"].get<double>() ==
              doctest::Approx(table["ways"][0]["wall_s"].get<double>() / way["wall_s"].get<double>()));
        CHECK(way["peak_mib"].get<double>() > 0);
        CHECK(way["output_files"] == 4);
        // Each way wrote into a folder of its own: the thumbnails pipeline's relative 'thumbnails/' landed there.
        CHECK(fs::exists(fs::path(dir / "kept") / kWays[i] / "thumbnails" / "a_sheet.jpg"));
        CHECK(fs::exists(fs::path(dir / "kept") / ".compare" / kWays[i] / "run0.json"));
    }
    CHECK(table["ways"][1]["output_checksum"] == table["ways"][0]["output_checksum"]);
}

TEST_CASE("compare: what cannot work is refused before anything runs (exit 2), a way that fails is exit 1") {
    TempDir dir;
    two_videos(dir);
    fs::create_directories(dir / "full");
    { std::ofstream(dir / "full/something") << "x"; }
    const std::string p = pipelines() + "thumbnails.yaml";
    const CommandResult not_empty = run_framepipe(fmt::format("compare '{}' a.mp4 --out full", p), dir);
    CHECK(not_empty.code == 2);
    CHECK(not_empty.err.find("'full' is not empty") != std::string::npos);
    const CommandResult missing = run_framepipe(fmt::format("compare '{}' a.mp4 nothere.mp4", p), dir);
    CHECK(missing.code == 2);
    CHECK(missing.err.find("nothere.mp4") != std::string::npos);
    const CommandResult bad_set = run_framepipe(fmt::format("compare '{}' a.mp4 --set thumbs.quality=500", p), dir);
    CHECK(bad_set.code == 2);
    CHECK(bad_set.err.find("quality") != std::string::npos);
    CHECK(!fs::exists(dir / "thumbnails"));  // nothing ran
    // Every way fails to write its thumbnails: a file stands where the folder must be made.
    { std::ofstream(dir / "blocker") << "x"; }
    const CommandResult failing = run_framepipe(
        fmt::format("compare '{}' a.mp4 --set thumbs.dir='{}'", p, dir / "blocker/sub"), dir,
        std::chrono::seconds(120));
    CHECK(failing.code == 1);
    CHECK(failing.out.find("FAILED") != std::string::npos);
    CHECK(failing.err.find("compare: sequential failed") != std::string::npos);
}
