// The framepipe entries of video_jobs (video_jobs.cpp runs this program once per run, as its own process):
//
//   video_jobs_framepipe --entry framepipe|framepipe-no-plan KIND OUT_DIR INPUT...
//
// builds the job KIND (thumbnails, edges, thumbs_and_edges) with framepipe's library API on every INPUT, runs it and
// prints the number of frames delivered. It links framepipe alone, as a library user's program does (video_jobs itself
// links OpenCV's imgcodecs and videoio for the other entries, which framepipe does not load).
//
// Environment (knobs for experiments):
//   VIDEO_JOBS_CAPACITY=N        every edge's capacity
//   VIDEO_JOBS_DECODE_THREADS=N  the source's decode_threads
//   VIDEO_JOBS_CV1=1             OpenCV's own threads off
//   VIDEO_JOBS_SUMMARY=1         prints the run's per-stage summary (format_summary) to stderr
//   VIDEO_JOBS_VERBOSE=1         prints each source's frame pool figures to stderr
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>
#include <opencv2/core/utility.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace framepipe;

namespace {

std::uint64_t run_framepipe(const std::string& kind, const std::string& out, const std::vector<std::string>& inputs,
                            bool plan) {
    PipelineOptions options;
    options.plan = plan;
    if (const char* capacity = std::getenv("VIDEO_JOBS_CAPACITY")) options.default_capacity = std::stoul(capacity);
    if (std::getenv("VIDEO_JOBS_CV1") != nullptr) cv::setNumThreads(1);
    Pipeline pipeline(options);
    for (const std::string& input : inputs) {
        VideoSource::Options source{.path = input};
        if (const char* threads = std::getenv("VIDEO_JOBS_DECODE_THREADS")) source.decode_threads = std::atoi(threads);
        Chain& chain = pipeline.add_source(std::make_unique<VideoSource>(source));
        if (kind == "thumbnails") {
            chain.add(make_stage("blur", {{"ksize", "5"}}))
                .add(make_stage("resize", {{"width", "320"}, {"interpolation", "area"}}))
                .add(make_stage("thumbnail", {{"every", "30"}, {"dir", out}, {"quality", "90"}}));
        } else if (kind == "thumbs_and_edges") {
            // Branch 1: thumbnails. Branch 2, from the same decoded pictures: edges, discarded.
            chain.add(make_stage("blur", {{"ksize", "5"}}))
                .add(make_stage("resize", {{"width", "320"}, {"interpolation", "area"}}))
                .add(make_stage("thumbnail", {{"every", "30"}, {"dir", out}, {"quality", "90"}}))
                .add(make_stage("resize", {{"width", "640"}, {"interpolation", "area"}}, "resize640"), {},
                     std::string(kFromSource))
                .add(make_stage("color", {{"to", "gray"}}))
                .add(make_stage("canny", {{"low", "50"}, {"high", "150"}}))
                .add(make_stage("null"));
        } else {
            chain.add(make_stage("resize", {{"width", "640"}, {"interpolation", "area"}}))
                .add(make_stage("color", {{"to", "gray"}}))
                .add(make_stage("canny", {{"low", "50"}, {"high", "150"}}))
                .add(make_stage("null"));
        }
    }
    const RunReport report = pipeline.run();
    if (!report.ok()) {
        fmt::print(stderr, "framepipe: {}\n", report.error->describe());
        std::exit(1);
    }
    if (std::getenv("VIDEO_JOBS_SUMMARY") != nullptr) fmt::print(stderr, "{}\n", format_summary(report));
    std::uint64_t frames = 0;
    for (const SourceReport& s : report.sources) {
        frames += s.delivered;
        if (std::getenv("VIDEO_JOBS_VERBOSE") != nullptr)
            fmt::print(stderr, "{}: pool {} frames, at most {} in use\n", s.name, s.pool_capacity, s.pool_peak);
    }
    return frames;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5 || std::string(argv[1]) != "--entry" ||
        (std::string(argv[2]) != "framepipe" && std::string(argv[2]) != "framepipe-no-plan")) {
        fmt::print(stderr, "usage: video_jobs_framepipe --entry framepipe|framepipe-no-plan KIND OUT_DIR INPUT...\n");
        return 2;
    }
    const std::vector<std::string> inputs(argv + 5, argv + argc);
    std::filesystem::create_directories(argv[4]);
    fmt::print("{}\n", run_framepipe(argv[3], argv[4], inputs, std::string(argv[2]) == "framepipe"));
    return 0;
}
