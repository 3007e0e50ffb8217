// Pipeline files: structure, every error names file, line and key and says what is allowed, all of a file's errors at
// once; --set; which source an input gets; every catalogue example is valid.
#include "config/command_line.hpp"
#include "support/media.hpp"

#include <framepipe/error.hpp>
#include <framepipe/frame.hpp>
#include <framepipe/pipeline_file.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <iomanip>
#include <sstream>

using namespace framepipe;

namespace {
std::string error_of(const std::string& text) {
    try {
        PipelineFile file = parse_pipeline(text, "p.yaml");
        check_stages(file);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}
}  // namespace

TEST_CASE("pipeline_file: a good file gives its inputs, source options, edges and stages with their lines") {
    const PipelineFile file = parse_pipeline(R"(# comment
inputs: [a.mp4, b.mp4]
source: { realtime: true }
edges: { capacity: 8, overflow: drop_oldest, max_age: 250ms }
threads: 2
stages:
  - { type: blur, ksize: 7 }
  - type: resize
    name: small
    width: 320
    edge: { capacity: 2 }
)",
                                             "p.yaml");
    REQUIRE(file.inputs.size() == 2);
    CHECK(file.inputs[0].path == "a.mp4");
    CHECK(file.inputs[1].path == "b.mp4");
    CHECK(file.inputs[1].name.empty());
    CHECK(file.source.at("realtime") == "true");
    CHECK(*file.edges.capacity == 8);
    CHECK(*file.edges.overflow == Overflow::drop_oldest);
    CHECK(*file.edges.max_age == std::chrono::milliseconds(250));
    CHECK(file.threads == 2);
    REQUIRE(file.stages.size() == 2);
    CHECK(file.stages[0].type == "blur");
    CHECK(file.stages[0].name == "blur");
    CHECK(file.stages[0].options.at("ksize") == "7");
    CHECK(file.stages[0].line == 7);
    CHECK(file.stages[1].name == "small");
    CHECK(*file.stages[1].edge.capacity == 2);
    CHECK(file.stages[1].option_lines.at("width") == 10);
}

TEST_CASE("pipeline_file: overflow latest is accepted on a stage's edge, in the edge defaults and by --set") {
    PipelineFile file = parse_pipeline("edges: { overflow: latest }\nstages:\n  - { type: blur, edge: { overflow: latest } }\n"
                                       "  - { type: resize, name: small, width: 10 }\n",
                                       "p.yaml");
    CHECK(*file.edges.overflow == Overflow::latest);
    CHECK(*file.stages[0].edge.overflow == Overflow::latest);
    CHECK_FALSE(file.stages[1].edge.overflow.has_value());
    apply_setting(file, "small.edge.overflow=latest");
    CHECK(*file.stages[1].edge.overflow == Overflow::latest);
}

TEST_CASE("pipeline_file: errors say where and what is allowed") {
    const std::string unknown = error_of("stages:\n  - { type: blurr }\n");
    CHECK(unknown.rfind("p.yaml:2: unknown stage type 'blurr' (did you mean 'blur'?); known types: resize, crop, ", 0) == 0);
    CHECK(unknown.find("thumbnail, contact_sheet") != std::string::npos);
    CHECK(unknown.find("(see 'framepipe stages')") != std::string::npos);
    CHECK(error_of("stages:\n  - type: blur\n    ksize: 200\n") ==
          "p.yaml:3: stage 'blur': option 'ksize' must be a whole number between 1 and 99, got '200'");
    CHECK(error_of("stages:\n  - type: blur\n    sigmaa: 2\n") ==
          "p.yaml:3: stage 'blur': 'blur' has no option 'sigmaa' (did you mean 'sigma'?); its options are: ksize, sigma");
    CHECK(error_of("stages:\n  - { type: blur, ksize: 4 }\n") == "p.yaml:2: stage 'blur': blur: option 'ksize' must be odd, got 4");
    CHECK(error_of("stage:\n  - { type: blur }\n") ==
          "p.yaml:1: unknown key 'stage' (did you mean 'stages'?); a pipeline file has: stages, inputs, source, edges, "
          "threads, drain_timeout, profile_spacing, plugins, join, mqtt, description\n"
          "p.yaml: no 'stages:' list; a pipeline needs at least one stage");
    CHECK(error_of("stages:\n  - { type: blur }\nedges: { overflow: drop_middle }\n") ==
          "p.yaml:3: edges: overflow must be block, drop_oldest, drop_newest or latest, got 'drop_middle'");
    CHECK(error_of("stages:\n  - { type: blur, edge: { capacity: 0 } }\n") ==
          "p.yaml:2: edge: capacity must be a whole number from 1 to 100000, got '0'");
    CHECK(error_of("stages:\n  - { type: blur }\n  - { type: blur }\n") ==
          "p.yaml:3: two stages are named 'blur'; give one a 'name:'");
    CHECK(error_of("stages:\n  - { type: resize }\n") ==
          "p.yaml:2: stage 'resize': resize needs a width, a height (the other follows the aspect ratio) or a scale");
    CHECK(error_of("stages: [ { type: blur }\n") .find("p.yaml:2: not valid YAML") == 0);
    CHECK(error_of("source: { realtim: true }\nstages: [ { type: blur } ]\n") ==
          "p.yaml:1: no source has an option 'realtim' (did you mean 'realtime'?); see 'framepipe stages'");
    CHECK(error_of("stages: []\n") == "p.yaml:1: 'stages' must be a list with at least one stage");
    CHECK(error_of("inputs: [a.mp4]\n") == "p.yaml: no 'stages:' list; a pipeline needs at least one stage");
}

TEST_CASE("pipeline_file: join: its options and stages are read with their lines, and its errors say where and what "
          "is allowed") {
    const PipelineFile file = parse_pipeline("stages:\n  - { type: resize, name: small, width: 320 }\n"
                                             "join:\n  name: wall\n  from: small\n  policy: timestamp\n  fps: 4\n"
                                             "  stages:\n    - { type: mosaic, columns: 2 }\n    - { type: null }\n",
                                             "p.yaml");
    REQUIRE(file.join.has_value());
    CHECK(file.join->name == "wall");
    CHECK(file.join->from == "small");
    CHECK(file.join->policy == JoinPolicy::timestamp);
    CHECK(file.join->fps == 4);
    REQUIRE(file.join->stages.size() == 2);
    CHECK(file.join->stages[0].type == "mosaic");
    CHECK(file.join->stages[0].line == 9);

    const std::string base = "stages:\n  - { type: resize, name: small, width: 320 }\n";
    CHECK(error_of(base + "join: { policy: newest, stages: [ { type: mosaic } ] }\n") ==
          "p.yaml:3: join: policy must be latest (the newest picture of each input, for live inputs) or timestamp "
          "(pictures matched by media time, for files), got 'newest'");
    CHECK(error_of(base + "join: { from: big, stages: [ { type: mosaic } ] }\n") ==
          "p.yaml:3: join: from 'big' names no stage of 'stages:'; name one of them or 'source'");
    CHECK(error_of(base + "join: { fps: 0, stages: [ { type: mosaic } ] }\n") ==
          "p.yaml:3: join: fps must be a number more than 0 and at most 1000, got '0'");
    CHECK(error_of(base + "join: { name: wall }\n") ==
          "p.yaml:3: join: no 'stages:' list; a join needs at least one stage (e.g. mosaic)");
    CHECK(error_of(base + "join: { stages: [ { type: resize, name: small, width: 10 } ] }\n") ==
          "p.yaml:3: join: a stage of 'stages:' is named 'small' too; give this one another 'name:' (names tell "
          "stages apart in reports and --set)");
    CHECK(error_of(base + "join: { stages: [ { type: mosaic, columns: -1 } ] }\n") ==
          "p.yaml:3: stage 'mosaic': option 'columns' must be a whole number between 0 and 64, got '-1'");
    CHECK(error_of("stages:\n  - { type: record, name: rec, from: packets, codec: copy }\n"
                   "join: { from: rec, stages: [ { type: mosaic } ] }\n") ==
          "p.yaml:3: join: from 'rec' names a stage on the input's packets; a join takes pictures: name 'source' or a "
          "stage on them");
    CHECK(error_of(base + "join: { speed: 3, stages: [ { type: mosaic } ] }\n") ==
          "p.yaml:3: join: unknown key 'speed'; a join has: name, from, policy, fps, stages");
}

TEST_CASE("pipeline_file: an input may carry its own name and source options, over the file's") {
    const PipelineFile file = parse_pipeline(R"(source: { read_timeout: 5s, width: 64 }
inputs:
  - { path: "synthetic", name: gate, width: 96, height: 32, frames: 4 }
  - synthetic:yard
stages: [{ type: "null" }]
)",
                                             "p.yaml");
    REQUIRE(file.inputs.size() == 2);
    CHECK(file.inputs[0].name == "gate");
    CHECK(file.inputs[0].line == 3);
    CHECK(file.inputs[0].options.at("width") == "96");
    const RunReport report = build_pipeline(file, {})->run();
    REQUIRE(report.ok());
    REQUIRE(report.sources.size() == 2);
    CHECK(report.sources[0].name == "gate");
    CHECK(report.sources[0].captured == 4);
    CHECK(report.sources[1].name == "yard");
    CHECK(report.sources[1].captured == 300);  // the default: file options and defaults apply to the other input

    // Command-line inputs: NAME=PATH names one; a path with '=' in it that is not a plain name stays a path.
    CHECK(parse_input("gate=rtsp://10.0.0.7/main").name == "gate");
    CHECK(parse_input("gate=rtsp://10.0.0.7/main").path == "rtsp://10.0.0.7/main");
    CHECK(parse_input("http://cam/video?size=2").name.empty());
    CHECK(parse_input("clip.mp4").path == "clip.mp4");

    CHECK(error_of("inputs:\n  - { name: x }\nstages: [{ type: \"null\" }]\n").rfind("p.yaml:2: this input has no 'path:'", 0) == 0);
    CHECK(error_of("inputs:\n  - { path: a.mp4, name: \"front/door\" }\nstages: [{ type: \"null\" }]\n")
              .rfind("p.yaml:2: input name 'front/door': use letters, digits", 0) == 0);
    CHECK(error_of("inputs:\n  - { path: a.mp4, speed: 2 }\nstages: [{ type: \"null\" }]\n")
              .rfind("p.yaml:2: no source has an option 'speed'", 0) == 0);
    const PipelineFile mismatched = parse_pipeline(
        "inputs:\n  - { path: synthetic, realtime: true }\nstages: [{ type: \"null\" }]\n", "p.yaml");
    CHECK_THROWS_WITH_AS(build_pipeline(mismatched, {}),
                         doctest::Contains("p.yaml:2: input 'synthetic' is a synthetic source, which has no option 'realtime'"),
                         ConfigError);
}

TEST_CASE("pipeline_file: profile_spacing sets how far apart timed frames are: 0 times every frame, 1h the first") {
    struct Case {
        const char* spacing;
        std::uint64_t timed;
    };
    for (const Case& c : {Case{"0", 50}, Case{"1h", 1}}) {  // no structured bindings: clang 14 refuses them in CAPTURE
        const char* spacing = c.spacing;
        CAPTURE(spacing);
        const PipelineFile file = parse_pipeline(fmt::format(R"(profile_spacing: {}
inputs: [{{ path: synthetic, frames: 50, pattern: counter, width: 16, height: 8 }}]
stages: [{{ type: "null" }}]
)",
                                                             spacing),
                                                 "p.yaml");
        const RunReport report = build_pipeline(file, {})->run();
        REQUIRE(report.ok());
        CHECK(report.sources.at(0).stages.at(0).processed == 50);
        CHECK(report.sources.at(0).stages.at(0).service.count == c.timed);
    }
    CHECK(error_of("profile_spacing: often\nstages: [{ type: blur }]\n") ==
          "p.yaml:1: profile_spacing must be a duration such as 2us, or 0 to time every frame, got 'often'");
}

TEST_CASE("pipeline_file: --set changes a stage by name or type, its edge, the source and the edge defaults") {
    PipelineFile file = parse_pipeline("stages:\n  - { type: blur }\n  - { type: resize, name: small, width: 10 }\n", "p.yaml");
    apply_setting(file, "blur.ksize=9");
    apply_setting(file, "small.width=640");
    apply_setting(file, "small.edge.overflow=drop_newest");
    apply_setting(file, "source.realtime=yes");
    apply_setting(file, "edges.capacity=16");
    apply_setting(file, "threads=3");
    apply_setting(file, "drain_timeout=3s");
    apply_setting(file, "profile_spacing=0");
    CHECK(file.stages[0].options.at("ksize") == "9");
    CHECK(file.stages[1].options.at("width") == "640");
    CHECK(*file.stages[1].edge.overflow == Overflow::drop_newest);
    CHECK(file.source.at("realtime") == "yes");
    CHECK(*file.edges.capacity == 16);
    CHECK(file.threads == 3);
    CHECK(file.drain_timeout == std::optional<Duration>(std::chrono::seconds(3)));
    CHECK(file.profile_spacing == std::optional<Duration>(Duration::zero()));
    CHECK_THROWS_WITH_AS(apply_setting(file, "smal.width=1"),
                         "--set smal.width: no stage named 'smal' (did you mean 'small'?); stages are: blur, small "
                         "(or use source., edges., threads, drain_timeout, profile_spacing)",
                         ConfigError);
    CHECK_THROWS_WITH_AS(apply_setting(file, "profile_spacing=soon"),
                         "--set profile_spacing: 'soon' is not a duration (try 2s, 500ms, 1.5)", ConfigError);
    CHECK_THROWS_WITH_AS(apply_setting(file, "blur.ksize=x"),
                         "--set blur.ksize: option 'ksize' must be a whole number between 1 and 99, got 'x'", ConfigError);
    CHECK_THROWS_WITH_AS(apply_setting(file, "blur"), doctest::Contains("write KEY=VALUE"), ConfigError);
}

TEST_CASE("pipeline_file: every file in pipelines/ is valid") {
    for (const char* name : {"thumbnails", "batch_images", "transcode_filtered", "edges"}) {
        CAPTURE(std::string(name));
        PipelineFile file = load_pipeline_file(std::string(FRAMEPIPE_SOURCE_DIR) + "/pipelines/" + name + ".yaml");
        CHECK_FALSE(file.stages.empty());
        CHECK_NOTHROW(check_stages(file));
    }
}

TEST_CASE("pipeline_file: every problem of a file is reported at once, in the order of its lines") {
    CHECK(error_of("threads: many\n"
                   "stages:\n"
                   "  - { type: blurr }\n"
                   "  - { type: blur, ksize: 4 }\n"
                   "  - { type: resize }\n"
                   "  - { type: canny, low: x, edge: { capacity: 0 } }\n"
                   "edges: { overflow: drop_middle }\n") ==
          "p.yaml:1: threads must be a whole number from 0 (one per CPU) to 256, got 'many'\n"
          "p.yaml:3: unknown stage type 'blurr' (did you mean 'blur'?); known types: resize, crop, rotate, flip, color, "
          "blur, median_blur, sharpen, canny, brightness_contrast, text, decimate, mosaic, thumbnail, contact_sheet, stream_out, "
          "y4m, write_images, write_video, null, window, record, motion, event_clips, mqtt, live_view (see 'framepipe stages')\n"
          "p.yaml:4: stage 'blur': blur: option 'ksize' must be odd, got 4\n"
          "p.yaml:5: stage 'resize': resize needs a width, a height (the other follows the aspect ratio) or a scale\n"
          "p.yaml:6: edge: capacity must be a whole number from 1 to 100000, got '0'\n"
          "p.yaml:6: stage 'canny': option 'low' must be a number between 0 and 10000, got 'x'\n"
          "p.yaml:7: edges: overflow must be block, drop_oldest, drop_newest or latest, got 'drop_middle'");
}

TEST_CASE("pipeline_file: a key given twice in any map is an error naming both lines") {
    CHECK(error_of("stages: [{ type: blur }]\nthreads: 1\nthreads: 2\n") ==
          "p.yaml:3: 'threads' is given twice (first on line 2); keep one");
    CHECK(error_of("stages:\n  - type: blur\n    ksize: 3\n    ksize: 5\n") ==
          "p.yaml:4: stage 1: 'ksize' is given twice (first on line 3); keep one");
    CHECK(error_of("stages:\n  - { type: blur, edge: { capacity: 2, capacity: 3 } }\n") ==
          "p.yaml:2: edge: 'capacity' is given twice (first on line 2); keep one");
    CHECK(error_of("edges:\n  max_age: 1s\n  max_age: 2s\nstages: [{ type: blur }]\n") ==
          "p.yaml:3: edges: 'max_age' is given twice (first on line 2); keep one");
    CHECK(error_of("source:\n  realtime: true\n  realtime: false\nstages: [{ type: blur }]\n") ==
          "p.yaml:3: source: 'realtime' is given twice (first on line 2); keep one");
    CHECK(error_of("inputs:\n  - path: a.mp4\n    path: b.mp4\nstages: [{ type: blur }]\n") ==
          "p.yaml:3: input: 'path' is given twice (first on line 2); keep one");
    CHECK(error_of("stages: [{ type: blur }]\nstages: [{ type: resize }]\n") ==
          "p.yaml:2: 'stages' is given twice (first on line 1); keep one");
}

TEST_CASE("pipeline_file: a plain null is read as the text written; an empty value is an error") {
    const PipelineFile file = parse_pipeline("stages:\n  - { type: null }\n  - { type: text, text: NULL }\n", "p.yaml");
    CHECK(file.stages[0].type == "null");
    CHECK(file.stages[1].options.at("text") == "NULL");
    CHECK(error_of("stages:\n  - { type: ~ }\n").rfind("p.yaml:2: unknown stage type '~'; known types:", 0) == 0);
    CHECK(error_of("stages:\n  - type:\n    ksize: 3\n") ==
          "p.yaml:2: 'type' has no value; write one after 'type:' or leave the key out");
    CHECK(error_of("stages:\n  - { type: blur, ksize: }\n") ==
          "p.yaml:2: 'ksize' has no value; write one after 'ksize:' or leave the key out");
}

TEST_CASE("pipeline_file: load_pipeline_file reads only regular files up to 1 MiB and reports settings' problems too") {
    framepipe::test::TempDir dir;
    CHECK_THROWS_WITH_AS(load_pipeline_file("/dev/zero"),
                         "'/dev/zero' is not a regular file; a pipeline file is a YAML file such as "
                         "pipelines/thumbnails.yaml",
                         ConfigError);
    CHECK_THROWS_WITH_AS(load_pipeline_file(dir / "missing.yaml"),
                         doctest::Contains("missing.yaml': no such file; check the path"), ConfigError);
    std::ofstream(dir / "big.yaml") << "stages: [{ type: blur }]\n" << std::string(std::size_t{1} << 20, '#');
    CHECK_THROWS_WITH_AS(load_pipeline_file(dir / "big.yaml"),
                         doctest::Contains("big.yaml' is larger than 1 MiB; a pipeline file is a short YAML text"),
                         ConfigError);
    std::ofstream(dir / "p.yaml") << "stages:\n  - { type: blur, ksize: 4 }\n  - { type: resize }\n";
    CHECK_THROWS_WITH_AS(load_pipeline_file(dir / "p.yaml", {"resize.width=64", "blur.sigma=x", "nosuch.x=1"}),
                         fmt::format("{0}:2: stage 'blur': blur: option 'ksize' must be odd, got 4\n"
                                     "--set blur.sigma: option 'sigma' must be a number between 0 and 100, got 'x'\n"
                                     "--set nosuch.x: no stage named 'nosuch'; stages are: blur, resize (or use "
                                     "source., edges., threads, drain_timeout, profile_spacing)",
                                     dir / "p.yaml")
                             .c_str(),
                         ConfigError);
}

TEST_CASE("pipeline_file: anything with a scheme is a URL read as video, never a pattern or a folder") {
    const auto type = [](const std::string& input, const std::map<std::string, std::string>& options = {}) {
        return source_type_of(parse_input(input), options);
    };
    CHECK(type("rtsp://u:p@host/cam/realmonitor?channel=1&subtype=0") == "video");
    CHECK(type("rtsp://[::1]/x") == "video");
    CHECK(type("http://cam/snapshot.jpg") == "video");
    CHECK(type("HTTP://cam/*") == "video");
    CHECK(type("gate=rtsp://cam/a?b") == "video");
    CHECK(type("camera:0") == "video");
    CHECK(type("clip.mp4") == "video");
    CHECK(type("photos/") == "images");
    CHECK(type("shots/*.png") == "images");
    CHECK(type("cover.jpg") == "images");
    CHECK(type("synthetic:front") == "synthetic");
    CHECK(type("x/not a scheme://y") == "video");  // a file name
    CHECK_THROWS_WITH_AS(type("rtsp://admin:hunter2@cam/x?password=hunter2", {{"type", "images"}}),
                         "input 'rtsp://admin:***@cam/x?password=***' is a URL, but the source type is images "
                         "(folders, patterns and image files); remove 'type: images' or give a folder",
                         ConfigError);
}

TEST_CASE("pipeline_file: a chain longer than the engine takes is refused when the pipeline is built, before opening") {
    std::string text = "stages:\n";
    for (std::size_t i = 0; i <= kMaxStagesPerLane; ++i) text += fmt::format("  - {{ type: \"null\", name: n{} }}\n", i);
    const PipelineFile file = parse_pipeline(text, "p.yaml");
    CHECK_THROWS_WITH_AS(build_pipeline(file, {"synthetic"}),
                         fmt::format("p.yaml: source 1 has {} stages; a chain may have at most {}: remove 1",
                                     kMaxStagesPerLane + 1, kMaxStagesPerLane)
                             .c_str(),
                         ConfigError);
}

// Each catalogue example is checked as `framepipe validate` checks it: stages as a pipeline file line, sources as the
// inputs of the command line they show.
TEST_CASE("pipeline_file: every catalogue example of every stage and source type is valid") {
    for (const StageSpec& spec : stage_catalog()) {
        CAPTURE(spec.example);
        REQUIRE(spec.example.rfind(fmt::format("- {{ type: {}", spec.type), 0) == 0);
        const std::string text = "stages:\n  " + spec.example + "\n";
        CHECK(error_of(text) == "no error");
        // A stage that takes packets needs a source with them: a stream (not opened before the run).
        const bool packets = spec.example.find("from: packets") != std::string::npos;
        CHECK_NOTHROW(build_pipeline(parse_pipeline(text, "p.yaml"), {packets ? "rtsp://cam.invalid/s" : "synthetic"}));
    }
    for (const SourceSpec& spec : source_catalog()) {
        CAPTURE(spec.example);
        const std::string prefix = "framepipe run p.yaml ";
        REQUIRE(spec.example.rfind(prefix, 0) == 0);
        std::vector<std::string> inputs;
        std::istringstream words(spec.example.substr(prefix.size()));
        for (std::string word; words >> std::quoted(word, '\'');) inputs.push_back(word);
        REQUIRE(inputs.size() >= 2);
        const PipelineFile file = parse_pipeline("stages: [{ type: null }]\n", "p.yaml");
        for (const std::string& input : inputs) {
            CAPTURE(input);
            CHECK(source_type_of(parse_input(input), {}) == spec.type);
        }
        CHECK_NOTHROW(build_pipeline(file, inputs));
    }
}

TEST_CASE("pipeline_file: mqtt: adds the mqtt stage with its options, as a branch from the first motion stage, or from "
          "the source when there is none; its errors say where") {
    const PipelineFile file = parse_pipeline("mqtt: { broker: 'mqtt://10.0.0.2:1884', topic_prefix: frigate }\n"
                                             "stages:\n  - { type: motion, name: moving }\n"
                                             "  - { type: thumbnail, interval: 2s, dir: thumbs }\n",
                                             "p.yaml");
    REQUIRE(file.stages.size() == 3);
    const StageEntry& mqtt = file.stages[2];
    CHECK(mqtt.type == "mqtt");
    CHECK(mqtt.name == "mqtt");
    CHECK(mqtt.from == "moving");
    CHECK(mqtt.line == 1);
    CHECK(mqtt.options.text("broker") == "mqtt://10.0.0.2:1884");
    CHECK(mqtt.options.text("topic_prefix") == "frigate");

    const PipelineFile no_motion =
        parse_pipeline("stages:\n  - { type: resize, width: 320 }\nmqtt: { stats_interval: 5s }\n", "p.yaml");
    REQUIRE(no_motion.stages.size() == 2);
    CHECK(no_motion.stages[1].from == "source");
    const PipelineFile recording = parse_pipeline(
        "stages:\n  - { type: record, from: packets, codec: copy, dir: rec }\nmqtt: {}\n", "p.yaml");
    CHECK(recording.stages.back().from == "packets");  // nothing decodes pictures for it
    const PipelineFile chosen = parse_pipeline(
        "stages:\n  - { type: motion }\n  - { type: resize, width: 320 }\nmqtt: { from: resize }\n", "p.yaml");
    CHECK(chosen.stages.back().from == "resize");
    const PipelineFile set =
        parse_pipeline("stages:\n  - { type: motion }\nmqtt: {}\n", "p.yaml", {"mqtt.topic_prefix=home"});
    CHECK(set.stages.back().options.text("topic_prefix") == "home");

    CHECK(error_of("stages:\n  - { type: motion }\nmqtt: { brokr: x }\n") ==
          "p.yaml:3: stage 'mqtt': 'mqtt' has no option 'brokr' (did you mean 'broker'?); its options are: broker, "
          "password_env, ca_file, client_id, topic_prefix, snapshot, update_interval, stats_interval, outbox");
    CHECK(error_of("stages:\n  - { type: motion }\nmqtt: { type: mqtt }\n") ==
          "p.yaml:3: 'mqtt' takes the mqtt stage's options and no 'type'");
    CHECK(error_of("stages:\n  - { type: motion }\nmqtt: mqtt://h\n") ==
          "p.yaml:3: 'mqtt' must be a map of the mqtt stage's options, e.g. { broker: \"mqtt://127.0.0.1:1883\", "
          "topic_prefix: frigate }");
    CHECK(error_of("stages:\n  - { type: motion }\n  - { type: mqtt }\nmqtt: {}\n") ==
          "p.yaml:4: 'mqtt:' and the stage 'mqtt' (line 3) would both publish on MQTT; keep one");
    CHECK(error_of("stages:\n  - { type: motion }\nmqtt: { from: nowhere }\n") ==
          "p.yaml:3: stage 'mqtt' takes frames from 'nowhere', but no stage above it has that name; name one of "
          "source, packets, motion");
}
