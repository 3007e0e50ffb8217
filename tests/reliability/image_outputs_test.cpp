// Image outputs under pressure: two inputs that map to one output name, concurrent writers of one name, a second run
// into the same folder, names longer than NAME_MAX, and names that are not UTF-8 in every report format.
#include "report/text_escape.hpp"
#include "stages/image_output.hpp"
#include "support/command.hpp"
#include "support/framepipe_command.hpp"
#include "support/media.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::set<std::string> files_in(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
    return names;
}

}  // namespace

TEST_CASE("write_images: two inputs with one stem are both written, one with a -2 suffix; a second run is refused at "
          "start with exit 2 naming a file; with overwrite it replaces them and leaves no temporary file") {
    TempDir dir;
    fs::create_directories(dir / "photos");
    REQUIRE(cv::imwrite(dir / "photos/frame_0001.jpg", numbered_frame(1, {160, 120})));
    REQUIRE(cv::imwrite(dir / "photos/frame_0002.jpg", numbered_frame(2, {160, 120})));
    REQUIRE(cv::imwrite(dir / "photos/frame_0002.png", numbered_frame(7, {160, 120})));
    const std::string run = fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=out", pipelines());
    const std::set<std::string> expected = {"frame_0001.jpg", "frame_0002.jpg", "frame_0002-2.jpg"};

    const CommandResult first = run_framepipe(run, dir);
    CHECK(first.code == 0);
    CHECK(contains(first.out, "3 captured, 3 delivered, 0 filtered, 0 rejected, 0 dropped"));
    CHECK(contains(first.err, "'out/frame_0002.jpg' was already written by this run"));
    CHECK(files_in(dir / "out") == expected);
    const std::set<int> numbers = {read_number(cv::imread(dir / "out/frame_0002.jpg")),
                                   read_number(cv::imread(dir / "out/frame_0002-2.jpg"))};
    CHECK(numbers == std::set<int>{2, 7});  // both inputs are there, whichever was written first

    const CommandResult again = run_framepipe(run, dir);
    CHECK(again.code == 2);
    CHECK(contains(again.err, "stage 'write_images': 'out/frame_0001.jpg' already exists (and 2 more such file(s)), "
                              "and this run writes '{label}.jpg' there; set overwrite: true, or choose another dir"));
    CHECK(files_in(dir / "out") == expected);

    const CommandResult replace = run_framepipe(run + " --set write_images.overwrite=true", dir);
    CHECK(replace.code == 0);
    CHECK(files_in(dir / "out") == expected);  // replaced in place: no -3, no .framepipe-*.part left behind
}

TEST_CASE("thumbnails: a second run into the same folder stops before the first frame with exit 2; names with {clock} "
          "are not refused") {
    TempDir dir;
    const std::string run = fmt::format("run -q '{}thumbnails.yaml' synthetic --set source.frames=60", pipelines());
    REQUIRE(run_framepipe(run, dir).code == 0);
    const std::set<std::string> written = files_in(dir / "thumbnails");
    CHECK(written == std::set<std::string>{"synthetic_000000.jpg", "synthetic_sheet.jpg"});
    const CommandResult again = run_framepipe(run, dir);
    CHECK(again.code == 2);
    CHECK(contains(again.err, "'thumbnails/synthetic_000000.jpg' already exists"));
    CHECK(files_in(dir / "thumbnails") == written);
    const CommandResult clock = run_framepipe(
        run + " --set thumbs.file={input}_{clock}.jpg --set sheet.dir=sheets", dir);
    CHECK(clock.code == 0);
}

TEST_CASE("ImageOutput: eight threads writing one name with overwrite get eight whole files and share no temporary") {
    TempDir dir;
    stages::ImageOutput output(dir.path().string(), "{label}.jpg", 90, true);
    output.prepare("input");
    std::vector<std::thread> writers;
    std::vector<std::string> written(8);
    for (int i = 0; i < 8; ++i)
        writers.emplace_back([&, i] { written[i] = output.write(numbered_frame(i, {160, 120}), "same.jpg"); });
    for (auto& writer : writers) writer.join();
    CHECK(files_in(dir.path()) == std::set<std::string>{"same.jpg", "same-2.jpg", "same-3.jpg", "same-4.jpg",
                                                        "same-5.jpg", "same-6.jpg", "same-7.jpg", "same-8.jpg"});
    std::set<int> numbers;
    for (int i = 0; i < 8; ++i) numbers.insert(read_number(cv::imread(dir / written[i])));
    CHECK(numbers.size() == 8);  // each file holds the frame its writer wrote
    CHECK(output.renamed() == 7);
}

TEST_CASE("names: 249-byte image names through a template longer than NAME_MAX are shortened to 255 bytes, keeping "
          "the extension, the frame number and distinctness") {
    TempDir dir;
    fs::create_directories(dir / "photos");
    const std::string stem(244, 'n');
    REQUIRE(cv::imwrite(dir / fmt::format("photos/{}1.jpg", stem), numbered_frame(1, {64, 48})));
    REQUIRE(cv::imwrite(dir / fmt::format("photos/{}2.jpg", stem), numbered_frame(2, {64, 48})));
    const CommandResult r = run_framepipe(fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=out "
                                                      "--set 'write_images.file={{label}}_{{frame:06}}.jpg'",
                                                      pipelines()),
                                          dir);
    CHECK(r.code == 0);
    CHECK(contains(r.out, "2 captured, 2 delivered, 0 filtered, 0 rejected, 0 dropped"));
    const std::set<std::string> names = files_in(dir / "out");
    REQUIRE(names.size() == 2);
    std::set<std::string> ends;
    for (const std::string& name : names) {
        CHECK(name.size() == 255);
        CHECK(name.rfind(std::string(100, 'n'), 0) == 0);
        ends.insert(name.substr(name.size() - 11));
    }
    CHECK(ends == std::set<std::string>{"_000000.jpg", "_000001.jpg"});
}

TEST_CASE("names: a folder and an image named in Latin-1 (not UTF-8): --report writes valid JSON and HTML, --trace "
          "valid JSON, with the bytes as \\xHH; the image is written under that displayable name") {
    TempDir dir;
    const std::string folder = "caf\xe9";
    fs::create_directories(dir / folder);
    REQUIRE(cv::imwrite(dir / (folder + "/\xe9t\xe9.png"), numbered_frame(3, {64, 48})));
    const CommandResult r = run_framepipe(fmt::format("run -q '{}batch_images.yaml' '{}' --set write_images.dir=out "
                                                      "--report run.json --trace run.trace.json",
                                                      pipelines(), folder),
                                          dir);
    CHECK(r.code == 0);
    const std::string json = slurp(dir.path() / "run.json");
    REQUIRE_FALSE(json.empty());
    CHECK(is_displayable(json));
    CHECK(nlohmann::json::parse(json).at("sources").at(0).at("name") == "caf\\xe9");
    const std::string trace = slurp(dir.path() / "run.trace.json");
    CHECK(is_displayable(trace));
    CHECK(nlohmann::json::parse(trace).contains("traceEvents"));
    const std::string html = slurp(dir.path() / "run.html");
    CHECK(is_displayable(html));
    CHECK(contains(html, "caf\\xe9"));
    CHECK(files_in(dir / "out") == std::set<std::string>{"\\xe9t\\xe9.jpg"});
}
