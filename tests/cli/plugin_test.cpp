// Plugins from the command: `--plugin PATH` and `plugins:` in a pipeline file load the example plugin
// (examples/plugin/), whose types then list, validate and run like built-in ones; a plugin that cannot be used exits 2
// with a message naming it.
#include "support/framepipe_command.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {
std::string example() { return std::string(FRAMEPIPE_SOURCE_DIR) + "/examples/plugin/pipeline.yaml"; }
}  // namespace

TEST_CASE("plugin cli: the example pipeline runs the plugin's source and stage: three negatives of gray 40") {
    TempDir dir;
    const CommandResult r = run_framepipe(fmt::format("run -q --plugin '{}' '{}'", FRAMEPIPE_EXAMPLE_PLUGIN, example()), dir);
    CAPTURE(r.err);
    CHECK(r.code == 0);
    std::vector<std::string> written;
    for (const auto& entry : fs::directory_iterator(dir / "inverted")) written.push_back(entry.path().filename());
    std::sort(written.begin(), written.end());
    CHECK(written == std::vector<std::string>{"gray_0.png", "gray_1.png", "gray_2.png"});
    for (const std::string& name : written) {
        const cv::Mat image = cv::imread((dir.path() / "inverted" / name).string(), cv::IMREAD_UNCHANGED);
        REQUIRE(image.type() == CV_8UC3);
        CHECK(image.size() == cv::Size(64, 48));
        cv::Mat wrong;
        cv::compare(image, cv::Scalar::all(215), wrong, cv::CMP_NE);
        CHECK(cv::countNonZero(wrong.reshape(1)) == 0);
    }
}

TEST_CASE("plugin cli: the plugin's types are listed and validate; plugins: in a file loads it too") {
    TempDir dir;
    const CommandResult listing = run_framepipe(fmt::format("stages --plugin '{}'", FRAMEPIPE_EXAMPLE_PLUGIN), dir);
    CHECK(listing.code == 0);
    CHECK(listing.out.find("  invert               parallel") != std::string::npos);
    CHECK(listing.out.find("  solid ") != std::string::npos);
    std::ofstream(dir / "p.yaml") << fmt::format("plugins: ['{}']\nstages: [{{ type: invert }}]\n", FRAMEPIPE_EXAMPLE_PLUGIN);
    const CommandResult validate = run_framepipe("validate p.yaml solid:x", dir);
    CHECK(validate.err == "");
    CHECK(validate.out == "p.yaml: OK, 1 stage(s): invert\n  input: solid:x (solid)\n");
    const CommandResult without = run_framepipe(fmt::format("validate '{}'", example()), dir);
    CHECK(without.code == 2);
    CHECK(without.err.find("unknown stage type 'invert'") != std::string::npos);
}

TEST_CASE("plugin cli: a plugin of another version, a missing one and a file that is no plugin exit 2, named") {
    TempDir dir;
    const CommandResult other = run_framepipe(fmt::format("stages --plugin '{}'", FRAMEPIPE_OTHER_VERSION_PLUGIN), dir);
    CHECK(other.code == 2);
    CHECK(other.err == fmt::format("framepipe: plugin '{}' was built against framepipe 0.0.9, but this is framepipe "
                                   "{}; rebuild the plugin against framepipe {} (or use the framepipe it was built "
                                   "for)\n",
                                   FRAMEPIPE_OTHER_VERSION_PLUGIN, FRAMEPIPE_VERSION, FRAMEPIPE_VERSION));
    const CommandResult missing = run_framepipe("stages --plugin nothing.so", dir);
    CHECK(missing.code == 2);
    CHECK(missing.err == "framepipe: plugin 'nothing.so': no such file; check the path (a plugin is a .so file built "
                         "against framepipe)\n");
    std::ofstream(dir / "p.yaml") << "plugins: [p.yaml]\nstages: [{ type: null }]\n";
    const CommandResult not_plugin = run_framepipe("validate p.yaml", dir);
    CHECK(not_plugin.code == 2);
    CHECK(not_plugin.err == "framepipe: p.yaml:1: 'p.yaml' is not a framepipe plugin: it has no FRAMEPIPE_PLUGIN() "
                            "mark (add FRAMEPIPE_PLUGIN() from <framepipe/registry.hpp> to one of its files)\n");
}
