// framepipe: the command.
//
//   framepipe run PIPELINE.yaml [INPUT ...] [--set KEY=VALUE ...] [--report RUN.json] [--trace RUN.trace.json]
//                 [--dry-run] [-q|-v]
//   framepipe validate PIPELINE.yaml [--set KEY=VALUE ...]
//   framepipe stages [TYPE]
//   framepipe probe INPUT ...
//   framepipe devices
//   framepipe report RUN.json [--html PAGE.html]
//
// Exit codes: 0 success (also after a Ctrl-C that drained cleanly), 1 runtime failure, 2 bad usage or configuration.
// Ctrl-C stops reading, drains the frames in flight and finalises every output; a second Ctrl-C discards the rest.

#include "../report/text_escape.hpp"
#include "console.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/report_io.hpp>
#include <framepipe/sources/cameras.hpp>
#include <framepipe/sources/image_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace {

using namespace framepipe;

std::atomic<Pipeline*> g_running{nullptr};
std::atomic<int> g_interrupts{0};

extern "C" void on_interrupt(int) {
    Pipeline* pipeline = g_running.load();
    if (pipeline == nullptr) return;
    if (g_interrupts.fetch_add(1) == 0) {
        static const char message[] = "\nstopping: finishing the frames in flight (Ctrl-C again to discard them)\n";
        (void)!::write(STDERR_FILENO, message, sizeof message - 1);
        pipeline->request_stop();
    } else {
        pipeline->request_abort();
    }
}

struct RunArgs {
    std::string pipeline;
    std::vector<std::string> inputs;
    std::vector<std::string> sets;
    std::string report_path;
    std::string trace_path;
    bool dry_run = false;
    bool quiet = false;
    bool verbose = false;
};

// run.json -> run.html
std::string html_path_for(const std::string& json_path) {
    std::filesystem::path path(json_path);
    path.replace_extension(".html");
    return path.string();
}

PipelineFile load(const std::string& path, const std::vector<std::string>& sets) {
    PipelineFile file = load_pipeline_file(path);
    for (const std::string& set : sets) apply_setting(file, set);
    check_stages(file);
    return file;
}

int run(const RunArgs& args) {
    cli::set_up_logging(args.quiet ? cli::Verbosity::quiet : args.verbose ? cli::Verbosity::verbose : cli::Verbosity::normal);
    const PipelineFile file = load(args.pipeline, args.sets);
    cli::Progress progress(!args.quiet && !args.dry_run);
    PipelineOptions options;
    options.on_progress = [&progress](const RunReport& snapshot) { progress.update(snapshot); };
    options.progress_interval = std::chrono::milliseconds(500);
    options.trace_path = args.trace_path;
    std::unique_ptr<Pipeline> pipeline = build_pipeline(file, args.inputs, options);
    if (args.dry_run) {
        std::fputs(pipeline->describe().c_str(), stdout);
        return 0;
    }
    g_running.store(pipeline.get());
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    const RunReport report = pipeline->run();
    g_running.store(nullptr);
    progress.clear();
    std::fputs(format_summary(report).c_str(), stdout);
    if (!args.report_path.empty()) {
        write_report_json(report, args.report_path);
        write_report_html(report, html_path_for(args.report_path), std::filesystem::path(args.pipeline).filename().string());
        spdlog::info("report: {} (and {})", args.report_path, html_path_for(args.report_path));
    }
    if (!args.trace_path.empty()) spdlog::info("trace: {} (open it in chrome://tracing or ui.perfetto.dev)", args.trace_path);
    if (!report.balanced())
        spdlog::error("frame accounting does not add up (an internal error); the figures above show where");
    if (!report.ok()) return 1;
    return report.balanced() ? 0 : 1;
}

int report_command(const std::string& path, std::string html) {
    RunReport report = read_report_json(path);
    report.verdict = bottleneck_verdict(report);  // with this version's analysis
    std::fputs(format_summary(report).c_str(), stdout);
    if (html.empty()) html = html_path_for(path);
    write_report_html(report, html, std::filesystem::path(path).filename().string());
    fmt::print("picture: {}\n", html);
    return 0;
}

int validate(const std::string& path, const std::vector<std::string>& sets) {
    const PipelineFile file = load(path, sets);
    std::string chain;
    for (const StageEntry& entry : file.stages) chain += (chain.empty() ? "" : " -> ") + entry.name;
    fmt::print("{}: OK, {} stage(s): {}\n", path, file.stages.size(), chain);
    for (const InputEntry& input : file.inputs)
        fmt::print("  input: {}{}\n", input.name.empty() ? "" : input.name + " = ", input.path);
    return 0;
}

std::string kind_name(OptionKind kind) {
    switch (kind) {
        case OptionKind::integer: return "integer";
        case OptionKind::number: return "number";
        case OptionKind::boolean: return "boolean";
        case OptionKind::text: return "text";
        case OptionKind::duration: return "duration";
        case OptionKind::choice: return "choice";
    }
    return "";
}

std::string allowed(const OptionSpec& o) {
    if (!o.choices.empty()) return fmt::format("{}", fmt::join(o.choices, "|"));
    const auto show = [&](double v) { return o.kind == OptionKind::duration ? fmt::format("{}s", v) : fmt::format("{}", v); };
    if (o.min && o.max) return fmt::format("{} .. {}", show(*o.min), show(*o.max));
    if (o.min) return fmt::format(">= {}", show(*o.min));
    return "";
}

void print_spec(const StageSpec& spec, bool is_source) {
    fmt::print("{}: {}\n  runs on: {}\n  example: {}\n", spec.type, spec.summary, spec.concurrency, spec.example);
    if (spec.options.empty()) fmt::print("  options: none\n");
    else fmt::print("  options:\n");
    for (const OptionSpec& o : spec.options)
        fmt::print("    {:<15} {:<9} {:<24} {:<22} {}\n", o.name, kind_name(o.kind),
                   o.required ? "required" : o.default_value.empty() ? "default: unset" : "default: " + o.default_value,
                   allowed(o), o.help);
    if (is_source)
        fmt::print("  (source options go under 'source:' in a pipeline file, or --set source.OPTION=VALUE)\n");
    else
        fmt::print("  every stage also takes: name (its name in reports and --set), edge: {{ capacity, overflow "
                   "(block|drop_oldest|drop_newest), max_age }}\n");
}

int stages(const std::string& type) {
    if (!type.empty()) {
        if (const StageSpec* spec = find_stage_spec(type)) {
            print_spec(*spec, false);
            return 0;
        }
        for (const StageSpec& spec : source_catalog())
            if (spec.type == type) {
                print_spec(spec, true);
                return 0;
            }
        throw ConfigError(fmt::format("no stage or source type '{}'; 'framepipe stages' lists them", type));
    }
    fmt::print("Stages ('framepipe stages TYPE' shows one with its options):\n");
    for (const StageSpec& spec : stage_catalog())
        fmt::print("  {:<20} {:<28} {}\n", spec.type, spec.concurrency, spec.summary);
    fmt::print("\nSources (chosen for each input; options go under 'source:'):\n");
    for (const StageSpec& spec : source_catalog()) fmt::print("  {:<20} {:<28} {}\n", spec.type, "", spec.summary);
    fmt::print("\nEdges: every stage's input edge has a capacity and an overflow policy: block (wait; nothing lost, the "
               "default for files),\ndrop_oldest (the default after a live source), drop_newest; and optionally "
               "max_age (drop frames older than that).\n");
    return 0;
}

int probe(const std::vector<std::string>& inputs) {
    for (const std::string& input : inputs) {
        if (input == "synthetic") {
            fmt::print("{}: synthetic test pattern (options: framepipe stages synthetic)\n", input);
            continue;
        }
        std::error_code ec;
        const bool images = std::filesystem::is_directory(input, ec) || input.find_first_of("*?[") != std::string::npos ||
                            ImageSource::is_image_name(input);
        if (images) {  // the listing and the first readable image's header: nothing is decoded
            const ImageSource::Listing listing = ImageSource::list({input});
            const auto unreadable = std::count_if(listing.images.begin(), listing.images.end(),
                                                  [](const ImageSource::Entry& e) { return !e.problem.empty(); });
            fmt::print("{}: {} image(s)", displayable_name(input), listing.images.size());
            if (unreadable > 0) fmt::print(", {} unreadable", unreadable);
            if (!listing.skipped.empty()) fmt::print(", {} other file(s) skipped", listing.skipped.size());
            for (const ImageSource::Entry& entry : listing.images) {
                if (!entry.problem.empty()) continue;
                const std::string name = displayable_name(std::filesystem::path(entry.path).filename().string());
                const auto size = ImageSource::header_dimensions(entry.path);
                if (size) fmt::print("; first: {} ({}x{})", name, size->width, size->height);
                else fmt::print("; first: {} (size not in a header framepipe reads)", name);
                break;
            }
            fmt::print("\n");
            continue;
        }
        const VideoSource::Probe p = VideoSource::probe(input);
        fmt::print("{}:\n  container  {}\n  codec      {} ({}, {})\n  size       {}x{}\n  frame rate {:.3f} fps\n"
                   "  duration   {:.3f} s\n  frames     {}\n  bit rate   {:.0f} kb/s\n",
                   input, p.container, p.codec, p.pixel_format,
                   p.intra_only ? "intra-only: decodes in parallel" : "inter-frame: decodes in order", p.width,
                   p.height, p.fps, p.duration,
                   p.frame_count ? fmt::format("{} (as the container states it)", *p.frame_count)
                   : p.duration > 0 && p.fps > 0
                       ? fmt::format("~{} (not stated; estimated from duration x rate)",
                                     static_cast<long long>(p.duration * p.fps + 0.5))
                       : std::string("unknown"),
                   static_cast<double>(p.bit_rate) / 1000.0);
    }
    return 0;
}

int devices() {
    const std::vector<CameraInfo> cameras = list_cameras();
    if (cameras.empty()) {
        fmt::print("no cameras found (no V4L2 capture device under /dev/video*).\n"
                   "Without a camera, try: a file replayed as live (INPUT --set source.realtime=true), a stream URL\n"
                   "(rtsp://, http://), or the synthetic camera (synthetic --set source.live=true).\n");
        return 0;
    }
    for (const CameraInfo& camera : cameras) {
        if (!camera.problem.empty()) {
            fmt::print("{}: {}\n", camera.device, camera.problem);
            continue;
        }
        fmt::print("{}: {} ({}, {})\n", camera.device, camera.card, camera.driver, camera.bus);
        for (const CameraFormat& format : camera.formats) {
            std::vector<std::string> modes;
            for (const CameraMode& m : format.modes)
                modes.push_back(m.fps.empty() ? fmt::format("{}x{}", m.width, m.height)
                                              : fmt::format("{}x{}@{:g}", m.width, m.height, fmt::join(m.fps, "/")));
            fmt::print("  {:<5} {}{}: {}\n", format.fourcc, format.description, format.compressed ? " (compressed)" : "",
                       modes.empty() ? std::string("sizes not listed") : fmt::format("{}", fmt::join(modes, "  ")));
        }
        fmt::print("  use: framepipe run pipelines/webcam_live.yaml {} [--set source.video_size=WxH "
                   "--set source.framerate=N --set source.input_format=mjpeg]\n",
                   camera.device);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"framepipe: real-time frame processing pipelines"};
    app.require_subcommand(1);

    RunArgs run_args;
    CLI::App* run_cmd = app.add_subcommand("run", "Run a pipeline file on inputs");
    run_cmd->add_option("pipeline", run_args.pipeline, "Pipeline file (see pipelines/)")->required();
    run_cmd->add_option("inputs", run_args.inputs, "Video files, image folders or patterns, or 'synthetic'");
    run_cmd->add_option("--set", run_args.sets, "Change a setting: STAGE.OPTION=VALUE, STAGE.edge.capacity=N, "
                                                "source.OPTION=VALUE, edges.capacity=N, threads=N")
        ->allow_extra_args(false);
    run_cmd->add_flag("--dry-run", run_args.dry_run, "Print the resolved graph (stages, edges, policies) and exit");
    run_cmd->add_option("--report", run_args.report_path,
                        "Write the run report as JSON (schema framepipe-report/1) and, next to it, an HTML page of charts");
    run_cmd->add_option("--trace", run_args.trace_path,
                        "Write a Chrome trace-event file (chrome://tracing, Perfetto): a slice per frame per stage");
    run_cmd->add_flag("-q,--quiet", run_args.quiet, "No progress line, only warnings and the summary");
    run_cmd->add_flag("-v,--verbose", run_args.verbose, "Also show debug messages (including FFmpeg's)");

    std::string validate_path;
    std::vector<std::string> validate_sets;
    CLI::App* validate_cmd = app.add_subcommand("validate", "Check a pipeline file without running it");
    validate_cmd->add_option("pipeline", validate_path, "Pipeline file")->required();
    validate_cmd->add_option("--set", validate_sets, "Change a setting before checking");

    std::string stage_type;
    CLI::App* stages_cmd = app.add_subcommand("stages", "List stage and source types with their options");
    stages_cmd->add_option("type", stage_type, "Show one type in detail");

    std::string report_json, report_html;
    CLI::App* report_cmd = app.add_subcommand("report", "Print a saved run report and draw its HTML page again");
    report_cmd->add_option("report", report_json, "A report written by 'run --report'")->required();
    report_cmd->add_option("--html", report_html, "Where to write the page (default: next to the report)");

    std::vector<std::string> probe_inputs;
    CLI::App* probe_cmd = app.add_subcommand("probe", "Show what an input delivers (size, rate, codec, frames)");
    probe_cmd->add_option("inputs", probe_inputs, "Inputs")->required();

    app.add_subcommand("devices", "List V4L2 cameras with their formats, sizes and frame rates");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (run_cmd->parsed()) return run(run_args);
        cli::set_up_logging(cli::Verbosity::normal);
        if (validate_cmd->parsed()) return validate(validate_path, validate_sets);
        if (stages_cmd->parsed()) return stages(stage_type);
        if (probe_cmd->parsed()) return probe(probe_inputs);
        if (app.got_subcommand("devices")) return devices();
        if (report_cmd->parsed()) return report_command(report_json, report_html);
    } catch (const ConfigError& e) {
        cli::clear_progress_line();
        fmt::print(stderr, "framepipe: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        cli::clear_progress_line();
        fmt::print(stderr, "framepipe: {}\n", e.what());
        return 1;
    }
    return 2;
}
