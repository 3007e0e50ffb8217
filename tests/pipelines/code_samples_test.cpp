// Code samples: every sample in the public headers (a block of "//     " lines after an empty comment line) and every
// ```cpp block of README.md is compiled here, copied verbatim into the functions below; a test finds each sample in
// this file's text (whitespace aside) and fails naming any it cannot find, so a sample changes only with its compiled
// copy. YAML samples are checked by parsing them as pipeline files. Samples that can run without media do.
#include <framepipe/registry.hpp>
FRAMEPIPE_PLUGIN()  // registry.hpp's plugin sample: harmless in a program (it only marks the file)

#include <framepipe/attachments/joined.hpp>
#include <framepipe/attachments/motion.hpp>
#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/report_io.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// ---- the compiled copies ----------------------------------------------------------------------------------------------

// include/framepipe/pipeline.hpp
framepipe::RunReport pipeline_sample() {
    using namespace framepipe;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{.frames = 100}))
        .add(make_stage("blur", {{"ksize", "5"}}))
        .add(make_stage("null"), {.capacity = 2});  // an edge of at most 2 frames in front of it
    RunReport report = pipeline.run();
    return report;
}

// include/framepipe/pipeline.hpp, Chain (not run: it reads cam.mp4).
[[maybe_unused]] void chain_sample() {
    using namespace framepipe;
    Pipeline pipeline;
    Chain& camera = pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = "cam.mp4"}));
    camera.add(make_stage("record", {{"codec", "copy"}}), {}, std::string(kFromPackets));  // packets, untouched
    camera.add(make_stage("resize", {{"width", "640"}}), {}, std::string(kFromSource));   // decoded pictures
    camera.add(make_stage("motion"), {.overflow = Overflow::drop_oldest});               // after resize
    camera.add(make_stage("live_view"), {.overflow = Overflow::latest}, "resize");        // a second branch of resize
}

// include/framepipe/pipeline.hpp, Pipeline::add_join (not run: it reads two cameras).
[[maybe_unused]] void join_sample() {
    using namespace framepipe;
    Pipeline pipeline;
    Chain& gate = pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = "rtsp://gate/main"}));
    gate.add(make_stage("null"));
    Chain& yard = pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = "rtsp://yard/main"}));
    yard.add(make_stage("resize", {{"width", "640"}}), {}, std::string(kFromSource)).add(make_stage("null"));
    Chain& wall = pipeline.add_join({.name = "wall", .fps = 10}, {{&gate}, {&yard, "resize"}});
    wall.add(make_stage("mosaic", {{"columns", "2"}})).add(make_stage("live_view"));
}

// include/framepipe/registry.hpp: a declaration (not run: "blur" is taken) and a use.
class Blur final : public framepipe::Stage {
public:
    Blur(const std::string& name, const framepipe::OptionValues& o)
        : Stage({.name = name, .parallel = true}), ksize_(static_cast<int>(o.integer("ksize"))) {}
    framepipe::Outcome process(framepipe::Frame&) override {
        return ksize_ > 0 ? framepipe::Outcome::pass : framepipe::Outcome::drop;
    }

private:
    int ksize_;
};

[[maybe_unused]] bool registry_declaration_sample() {
    using framepipe::OptionKind;
    using framepipe::OptionValues;
    const bool declared = framepipe::declare_stage({
        .type = "blur",
        .summary = "Gaussian blur",
        .example = "- { type: blur, ksize: 5 }",
        .traits = {.parallel = true},
        .options = {{"ksize", OptionKind::integer, "5", "Kernel size, odd", 1, 99}},
        .make = [](const std::string& name, const OptionValues& o) { return std::make_unique<Blur>(name, o); },
    });
    return declared;
}

std::unique_ptr<framepipe::Stage> registry_use_sample() {
    auto blur = framepipe::make_stage("blur", {{"ksize", "5"}});
    return blur;
}

// include/framepipe/attachments/motion.hpp
std::vector<cv::Rect> saved;
void save(const framepipe::Frame&, const std::vector<cv::Rect>& regions) { saved = regions; }

void motion_sample(const framepipe::Frame& frame) {
    if (const auto* motion = frame.find<framepipe::MotionAttachment>(); motion != nullptr && motion->event != 0)
        save(frame, motion->regions);
}

// include/framepipe/attachments/joined.hpp
std::vector<std::string> shown;
void show(const std::string& name, const cv::Mat&) { shown.push_back(name); }

void joined_sample(const framepipe::Frame& frame) {
    for (const framepipe::JoinedPicture& input : frame.find<framepipe::JoinedPictures>()->inputs)
        if (!input.image.empty()) show(input.name, input.image);
}

// README.md, "Library use" (not run: it reads a.mp4).
[[maybe_unused]] void readme_library_use_sample() {
framepipe::Pipeline pipeline;
pipeline.add_source(std::make_unique<framepipe::VideoSource>(framepipe::VideoSource::Options{.path = "a.mp4"}))
    .add(framepipe::make_stage("blur", {{"ksize", "5"}}))
    .add(framepipe::make_stage("thumbnail", {{"interval", "2s"}}), {.capacity = 2});
framepipe::RunReport report = pipeline.run();
fmt::print("{}", framepipe::format_summary(report));
}

// ---- finding the samples ----------------------------------------------------------------------------------------------

struct Sample {
    std::string where;  // file:line
    std::string text;   // without comment markers
};

std::string slurp(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Whitespace runs become one space, so layout differences do not matter.
std::string squeezed(const std::string& text) {
    std::string out;
    for (const char c : text) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (space) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += c;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// In a header: a run of lines "//     ..." (the comment marker, then at least 5 spaces) right after an empty comment line.
std::vector<Sample> header_samples(const fs::path& header) {
    std::vector<Sample> samples;
    const std::vector<std::string> lines = lines_of(slurp(header));
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const auto is_code = [&](std::size_t n) { return lines[n].rfind("//     ", 0) == 0; };
        if (!is_code(i) || is_code(i - 1) || lines[i - 1] != "//") continue;
        Sample sample{fmt::format("{}:{}", header.string(), i + 1), {}};
        for (; i < lines.size() && is_code(i); ++i) sample.text += lines[i].substr(2) + "\n";
        samples.push_back(sample);
    }
    return samples;
}

std::vector<Sample> readme_samples(const fs::path& readme) {
    std::vector<Sample> samples;
    const std::vector<std::string> lines = lines_of(slurp(readme));
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i] != "```cpp") continue;
        Sample sample{fmt::format("{}:{}", readme.string(), i + 1), {}};
        for (++i; i < lines.size() && lines[i] != "```"; ++i) sample.text += lines[i] + "\n";
        samples.push_back(sample);
    }
    return samples;
}

bool is_yaml(const Sample& sample) { return sample.text.find_first_not_of(' ') == sample.text.find("# "); }

std::vector<Sample> all_samples() {
    const fs::path root = FRAMEPIPE_SOURCE_DIR;
    std::vector<Sample> samples = readme_samples(root / "README.md");
    for (const auto& entry : fs::recursive_directory_iterator(root / "include/framepipe"))
        if (entry.path().extension() == ".hpp")
            for (Sample& sample : header_samples(entry.path())) samples.push_back(std::move(sample));
    return samples;
}

}  // namespace

TEST_CASE("code samples: every C++ sample in the public headers and README.md is compiled in this file") {
    const std::vector<Sample> samples = all_samples();
    const std::string compiled =
        squeezed(slurp(fs::path(FRAMEPIPE_SOURCE_DIR) / "tests/pipelines/code_samples_test.cpp"));
    int cpp = 0;
    for (const Sample& sample : samples) {
        if (is_yaml(sample)) continue;
        ++cpp;
        CAPTURE(sample.where);
        CAPTURE(sample.text);
        CHECK_MESSAGE(compiled.find(squeezed(sample.text)) != std::string::npos,
                      "copy the sample into tests/pipelines/code_samples_test.cpp, where it is compiled");
    }
    CHECK(cpp >= 6);  // README's library use; pipeline.hpp; registry.hpp's declaration, use and plugin; motion.hpp
}

TEST_CASE("code samples: every YAML sample in the public headers is a pipeline file framepipe accepts") {
    int yaml = 0;
    for (const Sample& sample : all_samples()) {
        if (!is_yaml(sample)) continue;
        ++yaml;
        CAPTURE(sample.where);
        std::string text;  // without its plugins line: the sample names a library that only exists in the example
        for (const std::string& line : lines_of(sample.text))
            if (line.find("plugins:") == std::string::npos) text += line.substr(std::min<std::size_t>(4, line.size())) + '\n';
        CHECK_NOTHROW((void)framepipe::parse_pipeline(text, sample.where));
    }
    CHECK(yaml >= 1);  // pipeline_file.hpp
}

TEST_CASE("code samples: the samples that need no media run as their comments say") {
    const framepipe::RunReport report = pipeline_sample();
    REQUIRE(report.sources.size() == 1);
    CHECK(report.sources[0].delivered == 100);
    CHECK(report.balanced());

    CHECK(registry_use_sample()->traits().name == "blur");

    framepipe::Frame frame;
    motion_sample(frame);  // nothing attached: nothing saved
    CHECK(saved.empty());
    auto& motion = frame.attach<framepipe::MotionAttachment>();
    motion.event = 2;
    motion.regions = {cv::Rect(1, 2, 3, 4)};
    motion_sample(frame);
    CHECK(saved == std::vector<cv::Rect>{cv::Rect(1, 2, 3, 4)});

    auto& joined = frame.attach<framepipe::JoinedPictures>();
    joined.inputs.push_back({.name = "gate", .image = cv::Mat(2, 2, CV_8UC3)});
    joined.inputs.push_back({.name = "yard"});  // nothing delivered yet
    joined_sample(frame);
    CHECK(shown == std::vector<std::string>{"gate"});
}
