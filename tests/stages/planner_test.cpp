// The planner's rewrites (PipelineOptions::plan) against the stages as declared, on media generated here: the same
// frames, and pictures within 2 levels per pixel and a PSNR of at least 45 dB; where a rewrite does not apply, the
// declared stages run and the pictures are the same to the bit.
#include "support/media.hpp"

#include "stages/reads_some_pictures.hpp"

#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/image_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

// Keeps a copy of every picture it gets, by frame sequence.
class PictureKeeper final : public Stage {
public:
    PictureKeeper() : Stage({.name = "keep", .needs_ordered_input = true}) {}
    Outcome process(Frame& frame) override {
        const std::lock_guard lock(mutex_);
        pictures_[frame.sequence] = frame.image.clone();
        return Outcome::pass;
    }
    [[nodiscard]] std::map<std::uint64_t, cv::Mat> pictures() const {
        const std::lock_guard lock(mutex_);
        return pictures_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::uint64_t, cv::Mat> pictures_;
};

// What photographed scenes have: smooth shading, edges of every orientation in several colours, fine texture and
// sensor noise, and content that moves between frames. `saturated` adds what graphics have: pure colours, and black
// and white with noise, whose 4:2:0 pictures hold pixels outside the BGR cube that the conversion clamps.
enum class Palette { natural, one_saturated_patch, graphics };

cv::Mat scene(int n, cv::Size size, Palette palette) {
    const bool graphics = palette == Palette::graphics;
    cv::Mat image(size, CV_8UC3);
    for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x)
            image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(60 + 120 * x / size.width),
                                                  static_cast<uchar>(50 + 140 * y / size.height),
                                                  static_cast<uchar>(90 + 60 * (x + y) / (size.width + size.height)));
    const double unit = size.width / 64.0;
    cv::circle(image, {static_cast<int>(unit * (12 + n)), size.height / 2}, static_cast<int>(unit * 8),
               graphics ? cv::Scalar(0, 0, 255) : cv::Scalar(70, 80, 170), cv::FILLED, cv::LINE_AA);
    cv::rectangle(image, cv::Rect(static_cast<int>(unit * 30), static_cast<int>(unit * 4), static_cast<int>(unit * 14),
                                  static_cast<int>(unit * 9)),
                  graphics ? cv::Scalar(255, 255, 0) : cv::Scalar(170, 150, 70), cv::FILLED);
    if (graphics) {
        cv::rectangle(image, cv::Rect(0, 0, size.width / 4, size.height), {0, 0, 0}, cv::FILLED);
        cv::rectangle(image, cv::Rect(size.width * 3 / 4, 0, size.width / 4, size.height), {255, 255, 255}, cv::FILLED);
    }
    if (palette == Palette::one_saturated_patch)  // a small sign of pure red and blue stripes: under 1% of the picture
        for (int x = 0; x < size.width / 20; ++x)
            cv::line(image, {size.width / 2 + x, size.height / 8}, {size.width / 2 + x, size.height / 8 + size.height / 15},
                     x % 2 == 0 ? cv::Scalar(0, 0, 255) : cv::Scalar(255, 0, 0));
    cv::line(image, {0, size.height - 1}, {size.width - 1, static_cast<int>(unit * n)}, {40, 50, 40},
             std::max(1, static_cast<int>(unit / 2)), cv::LINE_AA);
    for (int i = 0; i < 12; ++i)
        cv::putText(image, "framepipe", {static_cast<int>(unit * (4 + 5 * i)), static_cast<int>(unit * (20 + 3 * i))},
                    cv::FONT_HERSHEY_SIMPLEX, unit / 20, {210, 210, 210}, 1, cv::LINE_AA);
    cv::Mat noise(size, CV_16SC3);
    cv::theRNG().state = 1234 + static_cast<std::uint64_t>(n);
    cv::randn(noise, 0, graphics ? 8 : 4);
    cv::Mat out;
    image.convertTo(out, CV_16SC3);
    cv::add(out, noise, out);
    out.convertTo(image, CV_8UC3);
    return image;
}

std::function<cv::Mat(int, cv::Size)> drawn(Palette palette) {
    return [palette](int n, cv::Size size) { return scene(n, size, palette); };
}

struct Run {
    std::map<std::uint64_t, cv::Mat> pictures;
    std::string plan;  // the dry run's text
    RunReport report;
};

using StageList = std::vector<std::pair<std::string, std::map<std::string, std::string>>>;

template <class MakeSource>
Run run_with(MakeSource make_source, const StageList& stages, bool plan) {
    Run result;
    for (const bool dry : {true, false}) {
        PipelineOptions options;
        options.plan = plan;
        Pipeline pipeline(options);
        Chain& chain = pipeline.add_source(make_source());
        for (const auto& [type, settings] : stages) chain.add(make_stage(type, settings));
        auto keeper = std::make_unique<PictureKeeper>();
        PictureKeeper* kept = keeper.get();
        chain.add(std::move(keeper));
        if (dry) {
            result.plan = pipeline.describe();
            continue;
        }
        result.report = pipeline.run();
        result.pictures = kept->pictures();
    }
    return result;
}

struct Fidelity {
    double max_difference = 0;
    double worst_psnr = 1000;  // dB; cv::PSNR gives 361 for identical pictures
};

Fidelity compare(const Run& planned, const Run& declared) {
    REQUIRE(planned.pictures.size() == declared.pictures.size());
    Fidelity f;
    for (const auto& [sequence, picture] : declared.pictures) {
        const cv::Mat& other = planned.pictures.at(sequence);
        REQUIRE(other.size() == picture.size());
        REQUIRE(other.type() == picture.type());
        f.max_difference = std::max(f.max_difference, cv::norm(picture, other, cv::NORM_INF));
        f.worst_psnr = std::min(f.worst_psnr, cv::PSNR(picture, other));
    }
    return f;
}

std::unique_ptr<Source> video(const std::string& path) {
    return std::make_unique<VideoSource>(VideoSource::Options{.path = path});
}

void check_rewrite(const std::string& path, const StageList& stages, const std::string& fused, int frames) {
    const Run planned = run_with([&] { return video(path); }, stages, true);
    const Run declared = run_with([&] { return video(path); }, stages, false);
    INFO("planned:\n" << planned.plan << "declared:\n" << declared.plan);
    CHECK(planned.plan.find(fused) != std::string::npos);
    CHECK(planned.plan.find("planned: ") != std::string::npos);
    CHECK(declared.plan.find(fused) == std::string::npos);
    CHECK(declared.plan.find("convert") != std::string::npos);
    CHECK(planned.pictures.size() == static_cast<std::size_t>(frames));
    const Fidelity f = compare(planned, declared);
    MESSAGE(fused << ": max difference " << f.max_difference << " levels, worst PSNR " << f.worst_psnr << " dB");
    CHECK(f.max_difference <= 2);
    CHECK(f.worst_psnr >= 45);
    const SourceReport& source = planned.report.sources.at(0);
    CHECK(source.delivered == static_cast<std::uint64_t>(frames));
    CHECK(source.stages.at(1).name == fused);
}

}  // namespace

TEST_CASE("planner: convert, blur and resize to a sixth (1080p H.264) are one pass from YUV, within 2 levels") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 6, .size = {1920, 1080}, .fps = 30, .draw = drawn(Palette::natural)});
    check_rewrite(dir / "scene.mp4", {{"blur", {{"ksize", "5"}}}, {"resize", {{"width", "320"}}}},
                  "convert+blur+resize", 6);
}

TEST_CASE("planner: a fractional shrink, a wider blur and a BT.709 full-range stream keep the picture") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 5, .size = {640, 360}, .fps = 30,
                                    .codec = "-c:v libx264 -preset veryfast -pix_fmt yuvj420p -colorspace bt709 "
                                             "-color_range pc",
                                    .draw = drawn(Palette::natural)});
    check_rewrite(dir / "scene.mp4",
                  {{"blur", {{"ksize", "7"}, {"sigma", "2"}}}, {"resize", {{"width", "200"}, {"height", "117"}}}},
                  "convert+blur+resize", 5);
}

TEST_CASE("planner: convert then resize, without a blur, converts straight to the small size") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 5, .size = {1280, 720}, .fps = 30, .draw = drawn(Palette::natural)});
    check_rewrite(dir / "scene.mp4", {{"resize", {{"width", "427"}, {"interpolation", "area"}}}}, "convert+resize", 5);
}

TEST_CASE("planner: the few pixels of a small saturated patch that the conversion clamps are clamped in the result") {
    TempDir dir;
    write_video(dir / "scene.mp4",
                {.frames = 4, .size = {640, 360}, .fps = 30, .draw = drawn(Palette::one_saturated_patch)});
    check_rewrite(dir / "scene.mp4", {{"blur", {{"ksize", "5"}}}, {"resize", {{"width", "160"}}}},
                  "convert+blur+resize", 4);
}

TEST_CASE("planner: graphics (pure colours, noisy black and white) are converted whole, then shrunk in one filter") {
    TempDir dir;
    // A quarter (a window of 8 taps: swscale's BGR, filtered 3 channels at once) and an eighth (16 taps: converted to
    // B, G and R planes, each filtered on its own).
    for (const cv::Size size : {cv::Size(640, 360), cv::Size(1280, 720)}) {
        CAPTURE(size);
        const std::string path = dir / fmt::format("scene{}.mp4", size.width);
        write_video(path, {.frames = 3, .size = size, .fps = 30, .draw = drawn(Palette::graphics)});
        check_rewrite(path, {{"blur", {{"ksize", "5"}}}, {"resize", {{"width", "160"}}}}, "convert+blur+resize", 3);
    }
}

TEST_CASE(
    "planner: convert, resize and a conversion to gray (the edges job's start) are one stage; a picture "
    "converted whole is filtered as one gray plane") {
    TempDir dir;
    for (const Palette palette : {Palette::natural, Palette::graphics}) {
        const bool graphics = palette == Palette::graphics;
        CAPTURE(graphics);
        const std::string path = dir / fmt::format("scene{}.mp4", graphics ? "graphics" : "natural");
        write_video(path, {.frames = 3, .size = {1280, 720}, .fps = 30, .draw = drawn(palette)});
        check_rewrite(path, {{"resize", {{"width", "640"}, {"interpolation", "area"}}}, {"color", {{"to", "gray"}}}},
                      "convert+resize+color", 3);
    }
}

TEST_CASE("planner: blur and resize on BGR pictures (an image folder) are one filter at the output's pixels") {
    TempDir dir;
    for (int i = 0; i < 4; ++i) cv::imwrite(dir / fmt::format("img{}.png", i), scene(i, {800, 600}, Palette::graphics));
    const StageList stages{{"blur", {{"ksize", "5"}}}, {"resize", {{"width", "240"}}}};
    const auto images = [&] { return std::make_unique<ImageSource>(ImageSource::Options{.inputs = {dir.path().string()}}); };
    const Run planned = run_with(images, stages, true);
    const Run declared = run_with(images, stages, false);
    CHECK(planned.plan.find("blur+resize") != std::string::npos);
    const Fidelity f = compare(planned, declared);
    MESSAGE("blur+resize on BGR: max difference " << f.max_difference << " levels, worst PSNR " << f.worst_psnr << " dB");
    CHECK(planned.pictures.size() == 4);
    CHECK(f.max_difference <= 2);
    CHECK(f.worst_psnr >= 45);
}

TEST_CASE("planner: a picture the rewrite does not take (4:4:4) goes through the declared stages, to the bit") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 4, .size = {640, 360}, .fps = 30,
                                    .codec = "-c:v libx264 -preset veryfast -pix_fmt yuv444p", .draw = drawn(Palette::natural)});
    const StageList stages{{"blur", {{"ksize", "5"}}}, {"resize", {{"width", "160"}}}};
    const Run planned = run_with([&] { return video(dir / "scene.mp4"); }, stages, true);
    const Run declared = run_with([&] { return video(dir / "scene.mp4"); }, stages, false);
    CHECK(planned.plan.find("convert+blur+resize") != std::string::npos);
    const Fidelity f = compare(planned, declared);
    CHECK(f.max_difference == 0);
    CHECK(planned.pictures.size() == 4);
}

TEST_CASE("planner: odd-height pictures (swscale converts them another way) take the declared stages, to the bit") {
    TempDir dir;
    const StageList shapes[] = {
        {{"resize", {{"width", "160"}}}},
        {{"blur", {{"ksize", "5"}}}, {"resize", {{"width", "80"}}}},
        {{"resize", {{"width", "160"}}}, {"color", {{"to", "gray"}}}},
    };
    for (const Palette palette : {Palette::natural, Palette::graphics}) {
        const bool graphics = palette == Palette::graphics;
        CAPTURE(graphics);
        const std::string path = dir / fmt::format("odd{}.avi", graphics ? "graphics" : "natural");
        const std::string codec = "-c:v mjpeg -q:v 3 -pix_fmt yuvj420p";
        write_video(path, {.frames = 2, .size = {320, 241}, .fps = 30, .codec = codec, .draw = drawn(palette)});
        for (const StageList& stages : shapes) {
            const Run planned = run_with([&] { return video(path); }, stages, true);
            const Run declared = run_with([&] { return video(path); }, stages, false);
            CHECK(planned.plan.find("planned: ") != std::string::npos);
            CHECK(planned.pictures.size() == 2);
            CHECK(compare(planned, declared).max_difference == 0);
        }
    }
}

TEST_CASE("planner: nothing is fused across a stage another branch reads, an edge with options, or with plan off") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 2, .size = {320, 180}, .fps = 30, .draw = drawn(Palette::natural)});
    const auto describe = [&](bool plan, const std::function<void(Chain&)>& add) {
        PipelineOptions options;
        options.plan = plan;
        Pipeline pipeline(options);
        Chain& chain = pipeline.add_source(video(dir / "scene.mp4"));
        add(chain);
        return pipeline.describe();
    };
    const std::string branch = describe(true, [](Chain& chain) {
        chain.add(make_stage("blur"));
        chain.add(make_stage("resize", {{"width", "160"}}));
        chain.add(make_stage("null"));
        chain.add(make_stage("null", std::map<std::string, std::string>{}, "other"), {}, "blur");  // a second reader of blur's pictures
    });
    CHECK(branch.find("planned") == std::string::npos);
    CHECK(branch.find("convert+") == std::string::npos);
    const std::string aged = describe(true, [](Chain& chain) {
        chain.add(make_stage("blur"));
        chain.add(make_stage("resize", {{"width", "160"}}), {.max_age = std::chrono::milliseconds(100)});
        chain.add(make_stage("null"));
    });
    CHECK(aged.find("planned") == std::string::npos);  // convert and blur alone are not a shape the planner fuses
    CHECK(aged.find("blur+resize") == std::string::npos);
    const std::string off = describe(false, [](Chain& chain) {
        chain.add(make_stage("blur"));
        chain.add(make_stage("resize", {{"width", "160"}}));
        chain.add(make_stage("null"));
    });
    CHECK(off.find("planned") == std::string::npos);
    CHECK(off.find("convert+") == std::string::npos);
}

TEST_CASE("planner: a later stage that takes frames from the fused run's last stage takes them from the fused stage") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 3, .size = {320, 180}, .fps = 30, .draw = drawn(Palette::natural)});
    Pipeline pipeline;
    Chain& chain = pipeline.add_source(video(dir / "scene.mp4"));
    chain.add(make_stage("blur"));
    chain.add(make_stage("resize", {{"width", "160"}}));
    chain.add(make_stage("null", std::map<std::string, std::string>{}, "one"));
    chain.add(make_stage("null", std::map<std::string, std::string>{}, "two"), {}, "resize");
    const RunReport report = pipeline.run();
    const SourceReport& source = report.sources.at(0);
    CHECK(source.captured == 3);
    CHECK(source.delivered == 3);
    CHECK(source.balanced());
    CHECK(source.stages.at(1).name == "convert+blur+resize");
    CHECK(source.stages.at(3).name == "two");
    CHECK(source.stages.at(3).processed == 3);
}

// Thumbnails that end the branch: what the planner leaves unmade is what nobody reads, and what is read is the same.
namespace {

struct Thumbnails {
    std::string plan;
    RunReport report;
    std::map<std::string, cv::Mat> files;  // by name
};

Thumbnails thumbnails_of(const std::string& video_path, const fs::path& out,
                         const std::map<std::string, std::string>& picks, bool plan) {
    Thumbnails result;
    for (const bool dry : {true, false}) {
        PipelineOptions options;
        options.plan = plan;
        Pipeline pipeline(options);
        Chain& chain = pipeline.add_source(video(video_path));
        chain.add(make_stage("blur", {{"ksize", "5"}}));
        chain.add(make_stage("resize", {{"width", "160"}}));
        std::map<std::string, std::string> settings = picks;
        settings["dir"] = out.string();
        settings["file"] = "{frame:03}.png";  // lossless: the pictures themselves are compared
        chain.add(make_stage("thumbnail", settings));
        if (dry) {
            result.plan = pipeline.describe();
            continue;
        }
        result.report = pipeline.run();
    }
    for (const auto& entry : fs::directory_iterator(out))
        result.files[entry.path().filename().string()] = cv::imread(entry.path().string());
    return result;
}

}  // namespace

TEST_CASE(
    "planner: a thumbnail that ends its branch and picks frames by place or time gets pictures made for the "
    "frames it writes only, the declared stages' pictures; one that looks at every picture keeps the shrink") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 20, .size = {640, 360}, .fps = 10, .draw = drawn(Palette::natural)});
    const std::pair<std::map<std::string, std::string>, std::vector<std::string>> cases[] = {
        {{{"every", "7"}}, {"000.png", "007.png", "014.png"}},
        {{{"interval", "0.8s"}}, {"000.png", "008.png", "016.png"}},
        {{{"every", "3"}, {"max", "2"}}, {"000.png", "003.png"}},
    };
    for (const auto& one :
         cases) {  // no structured bindings: doctest's CAPTURE is a lambda, and clang 14 refuses them there
        const std::map<std::string, std::string>& picks = one.first;
        const std::vector<std::string>& expected = one.second;
        CAPTURE(expected.size());
        const Thumbnails planned = thumbnails_of(dir / "scene.mp4", dir / "planned", picks, true);
        const Thumbnails declared = thumbnails_of(dir / "scene.mp4", dir / "declared", picks, false);
        INFO("planned:\n" << planned.plan);
        CHECK(planned.plan.find("convert+blur+resize+thumbnail") != std::string::npos);
        CHECK(planned.plan.find("the others are passed on as decoded") != std::string::npos);
        REQUIRE(planned.report.ok());
        REQUIRE(declared.report.ok());
        const SourceReport& source = planned.report.sources.at(0);
        CHECK(source.delivered == 20);
        CHECK(source.stages.back().name == "convert+blur+resize+thumbnail");
        CHECK(source.stages.back().processed == 20);
        std::vector<std::string> names;
        for (const auto& [name, picture] : planned.files) names.push_back(name);
        CHECK(names == expected);
        REQUIRE(planned.files.size() == declared.files.size());
        Fidelity f;
        for (const auto& file : declared.files) {
            const std::string& name = file.first;
            const cv::Mat& picture = file.second;
            CAPTURE(name);
            REQUIRE(planned.files.count(name) == 1);
            const cv::Mat& other = planned.files.at(name);
            REQUIRE(other.size() == picture.size());
            f.max_difference = std::max(f.max_difference, cv::norm(picture, other, cv::NORM_INF));
            f.worst_psnr = std::min(f.worst_psnr, cv::PSNR(picture, other));
        }
        MESSAGE("convert+blur+resize+thumbnail, " << expected.size() << " thumbnails: max difference "
                                                  << f.max_difference << " levels, worst PSNR " << f.worst_psnr
                                                  << " dB");
        CHECK(f.max_difference <= 2);
        CHECK(f.worst_psnr >= 45);
        fs::remove_all(dir / "planned");
        fs::remove_all(dir / "declared");
    }
    // Where a picture the thumbnail skips may still be read, or it reads every picture, the shrink stays a stage of
    // its own and runs on every frame: a thumbnail on scene changes, one of every frame, a stage after it, a stage
    // taking frames from it, and an edge into it with options of its own.
    const auto plan_with = [&](const std::map<std::string, std::string>& thumbnail,
                               const std::function<void(Chain&)>& after, EdgeOptions edge = {}) {
        Pipeline pipeline;
        Chain& chain = pipeline.add_source(video(dir / "scene.mp4"));
        chain.add(make_stage("blur", {{"ksize", "5"}}));
        chain.add(make_stage("resize", {{"width", "160"}}));
        std::map<std::string, std::string> settings = thumbnail;
        settings["dir"] = dir / "kept";
        chain.add(make_stage("thumbnail", settings), edge);
        after(chain);
        return pipeline.describe();
    };
    const auto nothing = [](Chain&) {};
    const std::map<std::string, std::string> every_7{{"every", "7"}};
    const std::string plans[] = {
        plan_with({{"scene", "0.3"}}, nothing),
        plan_with({{"every", "1"}}, nothing),
        plan_with(every_7, [](Chain& chain) { chain.add(make_stage("null")); }),
        plan_with(every_7,
                  [](Chain& chain) {
                      chain.add(make_stage("null", std::map<std::string, std::string>{}, "one"), {}, "resize");
                      chain.add(make_stage("null", std::map<std::string, std::string>{}, "two"), {}, "thumbnail");
                  }),
        plan_with(every_7, nothing, {.capacity = 4}),
    };
    for (const std::string& plan : plans) {
        CAPTURE(plan);
        CHECK(plan.find("+thumbnail") == std::string::npos);
        CHECK(plan.find("passed on as decoded") == std::string::npos);
    }
    CHECK(plans[0].find("convert+blur+resize ") != std::string::npos);  // the shrink itself is still planned
}

namespace {

// Reads the picture of every third frame; notes what each frame looked like when it came.
class EveryThird final : public Stage, public stages::ReadsSomePictures {
public:
    EveryThird() : Stage({.name = "every_third", .needs_ordered_input = true, .read_only = true}) {}
    [[nodiscard]] bool reads_some_pictures() const override { return true; }
    [[nodiscard]] bool reads_picture_of(const Frame&) const override { return seen_ % 3 == 0; }
    void pass_unread(const Frame& frame) override {
        unread_formats.push_back(frame.format);
        ++seen_;
    }
    Outcome process(Frame& frame) override {
        read_sizes.push_back(frame.format == PixelFormat::bgr ? frame.image.size() : cv::Size());
        ++seen_;
        return Outcome::pass;
    }
    std::vector<PixelFormat> unread_formats;
    std::vector<cv::Size> read_sizes;

private:
    std::uint64_t seen_ = 0;
};

}  // namespace

TEST_CASE(
    "planner: a frame the stage ending the branch will not read reaches it as decoded, neither converted nor "
    "shrunk; the frames it reads come as the declared stages make them") {
    TempDir dir;
    write_video(dir / "scene.mp4", {.frames = 9, .size = {640, 360}, .fps = 10, .draw = drawn(Palette::natural)});
    Pipeline pipeline;
    Chain& chain = pipeline.add_source(video(dir / "scene.mp4"));
    chain.add(make_stage("blur", {{"ksize", "5"}}));
    chain.add(make_stage("resize", {{"width", "160"}}));
    auto reader = std::make_unique<EveryThird>();
    const EveryThird& seen = *reader;
    chain.add(std::move(reader));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).delivered == 9);
    CHECK(report.sources.at(0).stages.back().name == "convert+blur+resize+every_third");
    CHECK(seen.read_sizes == std::vector<cv::Size>(3, cv::Size(160, 90)));
    CHECK(seen.unread_formats == std::vector<PixelFormat>(6, PixelFormat::native));
}
