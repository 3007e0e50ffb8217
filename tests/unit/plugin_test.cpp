// Plugins through the library's API (load_plugin): the example plugin's types join the registry and work; a plugin of
// another version, one that redeclares a type, a missing file and a library that is no plugin are refused, clearly,
// with nothing of them declared.
#include "config/command_line.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace framepipe;

TEST_CASE("plugin: the example plugin's stage and source are made by type like built-in ones") {
    load_plugin(FRAMEPIPE_EXAMPLE_PLUGIN);
    load_plugin(FRAMEPIPE_EXAMPLE_PLUGIN);  // a second time does nothing
    REQUIRE(find_stage_spec("invert") != nullptr);
    REQUIRE(find_source_spec("solid") != nullptr);
    CHECK(stage_catalog().back().type == "invert");  // listed after the built-in ones
    const std::unique_ptr<Stage> invert = make_stage("invert");
    Frame frame;
    frame.prepare_image(cv::Size(4, 2), CV_8UC3).setTo(cv::Scalar(10, 20, 30));
    CHECK(invert->process(frame) == Outcome::pass);
    CHECK(frame.image.at<cv::Vec3b>(1, 3) == cv::Vec3b(245, 235, 225));
    CHECK(source_type_of(parse_input("solid:gray"), {}) == "solid");
    const PipelineFile file = parse_pipeline("source: { level: 7 }\nstages: [{ type: invert }]\n", "p.yaml");
    CHECK_NOTHROW(build_pipeline(file, {"solid:a", "synthetic"}));
}

TEST_CASE("plugin: one built against another framepipe version is refused before any of its code runs") {
    CHECK_THROWS_WITH_AS(load_plugin(FRAMEPIPE_OTHER_VERSION_PLUGIN),
                         fmt::format("plugin '{}' was built against framepipe 0.0.9, but this is framepipe {}; "
                                     "rebuild the plugin against framepipe {} (or use the framepipe it was built for)",
                                     FRAMEPIPE_OTHER_VERSION_PLUGIN, FRAMEPIPE_VERSION, FRAMEPIPE_VERSION)
                             .c_str(),
                         ConfigError);
}

TEST_CASE("plugin: one that declares a type framepipe has is refused whole") {
    CHECK_THROWS_WITH_AS(load_plugin(FRAMEPIPE_DUPLICATE_PLUGIN),
                         fmt::format("plugin '{}': it declares the stage type 'blur', which framepipe (or another "
                                     "plugin) already has; rename the plugin's type",
                                     FRAMEPIPE_DUPLICATE_PLUGIN)
                             .c_str(),
                         ConfigError);
    CHECK(find_stage_spec("duplicate_plugin_fresh") == nullptr);
    CHECK(find_stage_spec("blur")->summary == "Gaussian blur");
}

TEST_CASE("plugin: a missing file and a library that is no plugin are clear errors") {
    CHECK_THROWS_WITH_AS(load_plugin("/nowhere/libnothing.so"),
                         "plugin '/nowhere/libnothing.so': no such file; check the path (a plugin is a .so file built "
                         "against framepipe)",
                         ConfigError);
    // framepipe's own library holds the mark's prefix (to look for it) but no version after it: not a plugin.
    CHECK_THROWS_WITH_AS(load_plugin(FRAMEPIPE_LIBRARY),
                         fmt::format("'{}' is not a framepipe plugin: it has no FRAMEPIPE_PLUGIN() mark (add "
                                     "FRAMEPIPE_PLUGIN() from <framepipe/registry.hpp> to one of its files)",
                                     FRAMEPIPE_LIBRARY)
                             .c_str(),
                         ConfigError);
}

TEST_CASE("plugin: a source option the plugin's type limits differently still takes what a built-in type accepts, and "
          "each input's source checks it against its own type") {
    load_plugin(FRAMEPIPE_EXAMPLE_PLUGIN);  // solid's frames: 1..1000000; synthetic's: 0 (until stopped) and more
    const PipelineFile file = parse_pipeline("source: { frames: 0 }\nstages: [{ type: invert }]\n", "p.yaml");
    CHECK_NOTHROW(build_pipeline(file, {"synthetic"}));
    CHECK_THROWS_WITH_AS(build_pipeline(file, {"solid:a"}), doctest::Contains("frames"), ConfigError);
    // Refused by every type that has the option: the message names each.
    CHECK_THROWS_WITH_AS(parse_pipeline("source: { frames: -1 }\nstages: [{ type: invert }]\n", "p.yaml"),
                         doctest::Contains("source (solid)"), ConfigError);
}
