// framepipe: the command.
//
//   framepipe run [--frames N] [--width W] [--height H] [--live] [--fps F]
//
// Without a pipeline file it runs the built-in demo: a synthetic test pattern (no camera or file needed) through a
// Gaussian blur and a resize to 320 px wide, then prints the run's summary.
// Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration. Ctrl-C stops reading, drains what is in
// flight and finishes; a second Ctrl-C discards the rest.

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/registry.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>

namespace {

std::atomic<framepipe::Pipeline*> g_running{nullptr};
std::atomic<int> g_interrupts{0};

extern "C" void on_interrupt(int) {
    framepipe::Pipeline* pipeline = g_running.load();
    if (pipeline == nullptr) return;
    if (g_interrupts.fetch_add(1) == 0)
        pipeline->request_stop();
    else
        pipeline->request_abort();
}

int run_demo(const framepipe::SyntheticSource::Options& source) {
    framepipe::Pipeline pipeline;
    pipeline.add_source(std::make_unique<framepipe::SyntheticSource>(source))
        .add(framepipe::make_stage("blur", {{"ksize", "5"}}))
        .add(framepipe::make_stage("resize", {{"width", "320"}}))
        .add(framepipe::make_stage("null"));
    g_running.store(&pipeline);
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    const framepipe::RunReport report = pipeline.run();
    g_running.store(nullptr);
    std::fputs(framepipe::format_summary(report).c_str(), stdout);
    return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"framepipe: real-time frame processing pipelines"};
    app.require_subcommand(1);
    framepipe::SyntheticSource::Options source;
    source.width = 1280;
    source.height = 720;
    CLI::App* run = app.add_subcommand("run", "Run a pipeline (without a file: the built-in synthetic demo)");
    run->add_option("--frames", source.frames, "Frames to generate (0 = until Ctrl-C)")->check(CLI::NonNegativeNumber);
    run->add_option("--width", source.width, "Frame width")->check(CLI::Range(8, 16384));
    run->add_option("--height", source.height, "Frame height")->check(CLI::Range(1, 16384));
    run->add_flag("--live", source.live, "Produce frames at --fps like a camera, dropping what the pipeline cannot take");
    run->add_option("--fps", source.fps, "Frame rate")->check(CLI::PositiveNumber);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (run->parsed()) return run_demo(source);
    } catch (const framepipe::ConfigError& e) {
        fmt::print(stderr, "framepipe: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "framepipe: {}\n", e.what());
        return 1;
    }
    return 2;
}
