// Bad configuration, run as a user runs the command: `validate` refuses what `run` refuses (the same checks, every
// problem of a file at once, exit 2), files that are not pipeline files are refused without reading them whole, every
// catalogue example validates, and credentials in input URLs appear in no output, message or report.
#include "support/command.hpp"
#include "support/framepipe_command.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <framepipe/frame.hpp>
#include <framepipe/registry.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The lines of `text` that start with `prefix`, without it.
std::vector<std::string> lines_after(const std::string& text, const std::string& prefix) {
    std::vector<std::string> found;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(prefix, 0) == 0) found.push_back(line.substr(prefix.size()));
    return found;
}

// The types `framepipe stages` lists under a heading (the first word of each indented line up to a blank line).
std::vector<std::string> listed_types(const std::string& listing, const std::string& heading) {
    std::vector<std::string> types;
    std::istringstream lines(listing.substr(listing.find(heading)));
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line) && !line.empty()) types.push_back(line.substr(2, line.find(' ', 2) - 2));
    return types;
}

// Every declared stage type, as the command lists them: "resize, crop, ...".
std::string stage_types() {
    std::vector<std::string> types;
    for (const framepipe::StageSpec& spec : framepipe::stage_catalog()) types.push_back(spec.type);
    return fmt::format("{}", fmt::join(types, ", "));
}

}  // namespace

TEST_CASE("config: validate and run report every problem of a file at once, the same ones, with exit 2") {
    TempDir dir;
    std::ofstream(dir / "bad.yaml") << "threads: many\n"
                                       "stages:\n"
                                       "  - { type: blurr }\n"
                                       "  - { type: blur, ksize: 4 }\n"
                                       "  - { type: resize }\n"
                                       "  - { type: write_video, path: out.mp4, crf: 99 }\n";
    const std::string expected =
        "framepipe: bad.yaml:1: threads must be a whole number from 0 (one per CPU) to 256, got 'many'\n"
        "framepipe: bad.yaml:3: unknown stage type 'blurr' (did you mean 'blur'?); known types: " +
        stage_types() + " (see 'framepipe stages')\n"
        "framepipe: bad.yaml:4: stage 'blur': blur: option 'ksize' must be odd, got 4\n"
        "framepipe: bad.yaml:5: stage 'resize': resize needs a width, a height (the other follows the aspect ratio) "
        "or a scale\n"
        "framepipe: bad.yaml:6: stage 'write_video': option 'crf' must be a whole number between -1 and 63, got '99'\n"
        "framepipe: --set nosuch.x: no stage named 'nosuch'; stages are: blurr, blur, resize, write_video (or use "
        "source., edges., threads, drain_timeout, profile_spacing)\n";
    const CommandResult validate = run_framepipe("validate bad.yaml --set nosuch.x=1", dir);
    CHECK_FALSE(validate.timed_out);
    CHECK(validate.code == 2);
    CHECK(validate.out.empty());
    CHECK(validate.err == expected);
    const CommandResult run = run_framepipe("run -q bad.yaml synthetic --set nosuch.x=1", dir);
    CHECK_FALSE(run.timed_out);
    CHECK(run.code == 2);
    CHECK(run.err == expected);
    CHECK_FALSE(fs::exists(dir / "out.mp4"));
}

TEST_CASE("config: a key given twice in any map is refused with both lines") {
    TempDir dir;
    std::ofstream(dir / "twice.yaml") << "threads: 1\n"
                                         "threads: 2\n"
                                         "inputs:\n"
                                         "  - { path: synthetic, name: a, name: b }\n"
                                         "source: { frames: 5, frames: 6 }\n"
                                         "edges: { capacity: 2, capacity: 3 }\n"
                                         "stages:\n"
                                         "  - { type: blur, ksize: 3, ksize: 5 }\n"
                                         "  - { type: resize, width: 8, edge: { overflow: block, overflow: drop_oldest } }\n";
    const CommandResult r = run_framepipe("validate twice.yaml", dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 2);
    CHECK(r.err == "framepipe: twice.yaml:2: 'threads' is given twice (first on line 1); keep one\n"
                   "framepipe: twice.yaml:4: input: 'name' is given twice (first on line 4); keep one\n"
                   "framepipe: twice.yaml:5: source: 'frames' is given twice (first on line 5); keep one\n"
                   "framepipe: twice.yaml:6: edges: 'capacity' is given twice (first on line 6); keep one\n"
                   "framepipe: twice.yaml:8: stage 1: 'ksize' is given twice (first on line 8); keep one\n"
                   "framepipe: twice.yaml:9: edge: 'overflow' is given twice (first on line 9); keep one\n");
}

TEST_CASE("config: a device, a pipe, a folder or a huge file is refused as a pipeline file without reading it whole") {
    TempDir dir;
    REQUIRE(::mkfifo((dir / "pipe.yaml").c_str(), 0600) == 0);  // nothing writes to it: reading it would block
    fs::create_directories(dir / "folder.yaml");
    std::ofstream(dir / "huge.yaml") << "stages: [{ type: blur }]\n" << std::string(3u << 20, '#');
    for (const char* file : {"/dev/zero", "pipe.yaml", "folder.yaml"}) {
        CAPTURE(file);
        for (const char* command : {"validate", "run"}) {
            const CommandResult r = run_framepipe(fmt::format("{} {} synthetic", command, file), dir, 30s);
            CHECK_FALSE(r.timed_out);
            CHECK(r.code == 2);
            CHECK(r.err == fmt::format("framepipe: '{}' is not a regular file; a pipeline file is a YAML file such as "
                                       "pipelines/thumbnails.yaml\n",
                                       file));
        }
    }
    const CommandResult huge = run_framepipe("validate huge.yaml", dir, 30s);
    CHECK_FALSE(huge.timed_out);
    CHECK(huge.code == 2);
    CHECK(huge.err == "framepipe: 'huge.yaml' is larger than 1 MiB; a pipeline file is a short YAML text\n");
}

TEST_CASE("config: a chain longer than the engine takes is refused by validate as by run") {
    TempDir dir;
    std::ofstream file(dir / "long.yaml");
    file << "stages:\n";
    for (std::size_t i = 0; i <= framepipe::kMaxStagesPerLane; ++i) file << fmt::format("  - {{ type: null, name: n{} }}\n", i);
    file.close();
    const std::string expected =
        fmt::format("framepipe: long.yaml: source 1 has {} stages; a chain may have at most {}: remove 1\n",
                    framepipe::kMaxStagesPerLane + 1, framepipe::kMaxStagesPerLane);
    const CommandResult validate = run_framepipe("validate long.yaml", dir);
    CHECK(validate.code == 2);
    CHECK(validate.err == expected);
    const CommandResult run = run_framepipe("run -q long.yaml synthetic", dir);
    CHECK(run.code == 2);
    CHECK(run.err == expected);

    // A video brings two decode stages of its own: 15 stages of the file's are one too many, said before opening.
    std::ofstream shorter(dir / "shorter.yaml");
    shorter << "stages:\n";
    for (std::size_t i = 0; i + 1 < framepipe::kMaxStagesPerLane; ++i)
        shorter << fmt::format("  - {{ type: null, name: n{} }}\n", i);
    shorter.close();
    write_video(dir / "clip.mp4", {.frames = 5, .size = {64, 48}});
    const std::string with_decoders =
        fmt::format("framepipe: shorter.yaml: source 1 has {} stages (2 of them its decoder's); a chain may have at "
                    "most {}: remove 1\n",
                    framepipe::kMaxStagesPerLane + 1, framepipe::kMaxStagesPerLane);
    CHECK(run_framepipe("validate shorter.yaml clip.mp4", dir).err == with_decoders);
    CHECK(run_framepipe("run -q shorter.yaml clip.mp4", dir).err == with_decoders);
}

TEST_CASE("config: the example of every stage and source type that 'framepipe stages' lists validates as written") {
    TempDir dir;
    const CommandResult listing = run_framepipe("stages", dir);
    REQUIRE(listing.code == 0);
    const std::vector<std::string> stages = listed_types(listing.out, "Stages");
    const std::vector<std::string> sources = listed_types(listing.out, "Sources");
    REQUIRE(stages.size() > 20);
    std::vector<std::string> declared_sources;  // every declared type, in the registry's order
    for (const framepipe::SourceSpec& spec : framepipe::source_catalog()) declared_sources.push_back(spec.type);
    REQUIRE(sources == declared_sources);
    REQUIRE(sources.size() >= 3);  // video, images, synthetic
    std::ofstream(dir / "p.yaml") << "stages: [{ type: blur }]\n";
    for (const std::string& type : stages) {
        CAPTURE(type);
        const std::vector<std::string> example = lines_after(run_framepipe("stages " + type, dir).out, "  example: ");
        REQUIRE(example.size() == 1);
        std::ofstream(dir / "example.yaml") << "stages:\n  " << example.front() << "\n";
        const CommandResult r = run_framepipe("validate example.yaml", dir);
        CHECK(r.err == "");
        CHECK(r.out.rfind("example.yaml: OK, 1 stage(s): " + type + "\n", 0) == 0);
    }
    for (const std::string& type : sources) {
        CAPTURE(type);
        const std::vector<std::string> example = lines_after(run_framepipe("stages " + type, dir).out, "  example: ");
        REQUIRE(example.size() == 1);
        REQUIRE(example.front().rfind("framepipe run ", 0) == 0);
        const CommandResult r = run_framepipe("validate " + example.front().substr(14), dir);  // the same command line
        CHECK(r.err == "");
        const std::vector<std::string> inputs = lines_after(r.out, "  input: ");
        CHECK(inputs.size() >= 2);
        for (const std::string& input : inputs) CHECK(input.ends_with(" (" + type + ")"));
    }
}

TEST_CASE("config: credentials in an input URL appear in no output, error or report") {
    TempDir dir;
    const char* secrets[] = {"hunter2", "s3cr3t", "t0ken"};
    const auto check_no_secret = [&](const std::string& what, const std::string& text) {
        CAPTURE(what);
        CAPTURE(text);
        for (const char* secret : secrets) CHECK(text.find(secret) == std::string::npos);
    };
    std::ofstream(dir / "p.yaml") << "stages: [{ type: null }]\n";
    const int closed = free_port();
    const std::string query = "user=viewer&password=s3cr3t&Token=t0ken";
    const std::string shown_query = "user=viewer&password=***&Token=***";

    // validate: the inputs as it will read them
    const std::string rtsp = fmt::format("rtsp://admin:hunter2@127.0.0.1:{}/cam/realmonitor?channel=1&{}", closed, query);
    const CommandResult validate = run_framepipe(fmt::format("validate p.yaml '{}'", rtsp), dir);
    CHECK(validate.code == 0);
    CHECK(validate.out.find(fmt::format("  input: rtsp://admin:***@127.0.0.1:{}/cam/realmonitor?channel=1&{} (video)",
                                        closed, shown_query)) != std::string::npos);
    check_no_secret("validate", validate.out + validate.err);

    // a stream that cannot be opened: a runtime failure naming it; '?' and '*' make no pattern of it
    const CommandResult refused = run_framepipe(
        fmt::format("run -q p.yaml '{}*' --set source.open_timeout=2s --set source.reconnect=false", rtsp), dir);
    CHECK_FALSE(refused.timed_out);
    CHECK(refused.code == 1);
    CHECK(refused.err.find(fmt::format("'rtsp://admin:***@127.0.0.1:{}/cam/realmonitor?channel=1&user=viewer&"
                                       "password=***&Token=***': cannot open",
                                       closed)) != std::string::npos);
    CHECK(refused.err.find("matches no files") == std::string::npos);
    check_no_secret("refused", refused.out + refused.err);

    // a URL forced to be images: a usage error naming it
    const CommandResult forced = run_framepipe(fmt::format("validate p.yaml '{}' --set source.type=images", rtsp), dir);
    CHECK(forced.code == 2);
    CHECK(forced.err.find("is a URL, but the source type is images") != std::string::npos);
    check_no_secret("forced", forced.out + forced.err);

    // a run that reads a stream served on 127.0.0.1, with a report
    fs::create_directories(dir / "www");
    write_video(dir / "www/clip.ts", {.frames = 20, .size = {160, 120}});
    const int port = free_port();
    Process server(fmt::format("/usr/bin/python3 -m http.server --bind 127.0.0.1 {} --directory '{}' >/dev/null 2>&1",
                               port, dir / "www"));
    REQUIRE(eventually([&] { return http_get(port, "/clip.ts", 1s).status == 200; }));
    const std::string http = fmt::format("http://viewer:hunter2@127.0.0.1:{}/clip.ts?{}", port, query);
    const CommandResult run = run_framepipe(
        fmt::format("run -v p.yaml '{}' --set source.reconnect=false --report run.json", http), dir);
    CHECK_FALSE(run.timed_out);
    CHECK(run.out.find(fmt::format("127-0-0-1-{}_clip-ts", port)) != std::string::npos);  // the stream's name
    check_no_secret("run", run.out + run.err);
    REQUIRE(fs::exists(dir / "run.json"));
    check_no_secret("run.json", slurp(dir / "run.json"));
    check_no_secret("run.html", slurp(dir / "run.html"));
}
