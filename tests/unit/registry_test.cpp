// The registry: every declared stage and source type works as its declaration says (its example and defaults make it,
// the class has the traits the declaration states), and sources claim the inputs they should.
#include "config/command_line.hpp"

#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <iomanip>
#include <sstream>

using namespace framepipe;

TEST_CASE("registry: every stage type is made from its own example and defaults, with the traits it declares") {
    REQUIRE(stage_catalog().size() > 20);
    for (const StageSpec& spec : stage_catalog()) {
        CAPTURE(spec.type);
        REQUIRE(spec.make);
        const PipelineFile file = parse_pipeline("stages:\n  " + spec.example + "\n", "example.yaml");
        REQUIRE(file.stages.size() == 1);
        CHECK(file.stages[0].type == spec.type);
        std::unique_ptr<Stage> stage;
        REQUIRE_NOTHROW(stage = make_stage(spec.type, file.stages[0].options, ""));
        CHECK(stage->traits().name == spec.type);
        CHECK(stage->traits().parallel == spec.traits.parallel);
        CHECK(stage->traits().needs_ordered_input == spec.traits.needs_ordered_input);
        CHECK(stage->traits().blocking_io == spec.traits.blocking_io);
        for (const OptionSpec& option : spec.options) {
            CAPTURE(option.name);
            if (!option.default_value.empty()) CHECK_NOTHROW((void)parse_option(option, option.default_value));
            CHECK_FALSE(option.help.empty());
        }
    }
}

TEST_CASE("registry: the listing says how each stage runs, from its declared traits") {
    CHECK(runs_on(find_stage_spec("blur")->traits) == "parallel");
    CHECK(runs_on(find_stage_spec("decimate")->traits) == "serial");
    CHECK(runs_on(find_stage_spec("thumbnail")->traits) == "serial, dedicated thread");
    CHECK(runs_on(find_stage_spec("write_images")->traits) == "parallel, dedicated threads");
}

TEST_CASE("registry: options are parsed once into typed values that keep their canonical text") {
    const StageSpec& blur = *find_stage_spec("blur");
    const OptionValues values = check_options(blur, {{"ksize", "7"}, {"sigma", " 1.5 "}});
    CHECK(values.integer("ksize") == 7);
    CHECK(values.number("sigma") == 1.5);
    CHECK(values.at("sigma") == "1.5");
    CHECK_THROWS_WITH_AS((void)values.text("ksize"), "option 'ksize' is not declared as text", ConfigError);
    const OptionValues record = check_options(*find_stage_spec("record"), {{"segment", "2m"}});
    CHECK(record.duration("segment") == std::chrono::minutes(2));
    CHECK_THROWS_AS((void)record.boolean("fps"), ConfigError);  // a number, not a boolean
}

TEST_CASE("registry: each source type claims the inputs of its example, and a URL is always video") {
    REQUIRE(source_catalog().size() >= 3);
    for (const SourceSpec& spec : source_catalog()) {
        CAPTURE(spec.type);
        REQUIRE(spec.claims);
        REQUIRE(spec.make);
        const std::string prefix = "framepipe run p.yaml ";
        REQUIRE(spec.example.rfind(prefix, 0) == 0);
        std::istringstream words(spec.example.substr(prefix.size()));
        for (std::string input; words >> std::quoted(input, '\'');) {
            CAPTURE(input);
            CHECK(source_type_of(parse_input(input), {}) == spec.type);
        }
        for (const OptionSpec& option : spec.options)
            if (!option.default_value.empty()) CHECK_NOTHROW((void)parse_option(option, option.default_value));
    }
    CHECK(find_source_spec("images")->claims("rtsp://cam/x/*.jpg") == 0);
    CHECK(find_source_spec("video")->claims("clip.mp4") == 1);  // the fallback for anything no other type claims
}

TEST_CASE("registry: an integer option without a range refuses values a 64-bit integer cannot hold exactly") {
    const OptionSpec n{"n", OptionKind::integer, "0", "a count with no declared range"};
    CHECK(std::get<std::int64_t>(parse_option(n, "9000000000000000").value) == 9'000'000'000'000'000);
    CHECK_THROWS_WITH_AS(parse_option(n, "1e300"), doctest::Contains("between -9e15 and 9e15"), ConfigError);
    CHECK_THROWS_WITH_AS(parse_option(n, "-1e19"), doctest::Contains("between -9e15 and 9e15"), ConfigError);
}
