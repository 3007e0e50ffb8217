// framepipe: the command.
//
//   framepipe run PIPELINE.yaml [INPUT ...] [--set KEY=VALUE ...] [--report RUN.json] [--trace RUN.trace.json]
//                 [--frames FRAMES.jsonl|FRAMES.csv]
//                 [--dry-run[=text|dot]] [--no-plan] [-q|-v]
//   framepipe validate PIPELINE.yaml [INPUT ...] [--set KEY=VALUE ...]
//   framepipe stages [TYPE] [--markdown]
//   (run, validate and stages take --plugin PATH.so, repeatable: more stage and source types)
//   framepipe compare PIPELINE.yaml INPUT ... [--set KEY=VALUE ...] [--out DIR] [--json]
//   framepipe worker PIPELINE.yaml --queue redis://HOST:PORT/STREAM [--set ...] [--tries N] [--claim-after T]
//                    [--exit-when-empty] [--metrics-file PATH]
//   framepipe submit --queue redis://HOST:PORT/STREAM INPUT ...
//   framepipe probe INPUT ...
//   framepipe devices
//   framepipe report RUN.json [--html PAGE.html]
//   framepipe --version
//
// Exit codes: 0 success (also after a Ctrl-C that drained cleanly), 1 runtime failure, 2 bad usage or configuration.
// Ctrl-C stops reading, drains the frames in flight and finalises every output; a second Ctrl-C discards the rest.

#include "../report/text_escape.hpp"
#include "config/command_line.hpp"
#include "registry/suggest.hpp"
#include "compare.hpp"
#include "run_outcome.hpp"
#include "console.hpp"
#include "queue/worker.hpp"

#include <framepipe/edge.hpp>
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
#include <cstring>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <unistd.h>

namespace {

using namespace framepipe;

// Ctrl-C and SIGTERM. Before the run starts, nothing needs finishing: the first one ends the process. During the run:
// the first stops reading and drains (outputs finalised); the second discards what is in flight and the process ends
// within kHardExitSeconds whatever is still running (an alarm that cannot be held up by any thread); a third ends it at
// once. After the run, while the summary and report are written, one is ignored and the second ends the process.
// Signals less than kSameInterrupt apart are one interrupt: a signal sent to the process and to its group (as timeout(1)
// and some supervisors do) arrives twice within microseconds, and must not discard what one Ctrl-C would finish.
// Everything here is async-signal-safe: atomics, clock_gettime(2), write(2), alarm(2) and _exit(2).
enum class Phase { starting, running, reporting };
std::atomic<Pipeline*> g_running{nullptr};
std::atomic<Phase> g_phase{Phase::starting};
std::atomic<int> g_interrupts{0};
std::atomic<std::int64_t> g_last_interrupt_ns{-1};  // CLOCK_MONOTONIC of the last interrupt counted
constexpr unsigned kHardExitSeconds = 2;
constexpr std::int64_t kSameInterrupt = 100'000'000;  // ns: faster than a person presses Ctrl-C twice

void say(const char* text) noexcept { (void)!::write(STDERR_FILENO, text, std::strlen(text)); }

extern "C" void on_alarm(int) {
    say("framepipe: did not finish within 2 s of the second interrupt; exiting now (files still open may lack their "
        "last frames)\n");
    ::_exit(1);
}

extern "C" void on_interrupt(int) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const std::int64_t now_ns = static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
    const std::int64_t last_ns = g_last_interrupt_ns.load();
    if (last_ns >= 0 && now_ns - last_ns < kSameInterrupt) return;  // the same interrupt, delivered twice
    g_last_interrupt_ns.store(now_ns);
    const int count = g_interrupts.fetch_add(1) + 1;
    Pipeline* pipeline = g_running.load();
    if (g_phase.load() == Phase::starting && pipeline == nullptr) {
        say("\nframepipe: interrupted before the run started; nothing was processed\n");
        ::_exit(1);
    }
    if (count >= 3) {
        say("\nframepipe: interrupted again; exiting now\n");
        ::_exit(1);
    }
    if (count == 1) {
        if (pipeline != nullptr) {
            say("\nstopping: finishing the frames in flight (Ctrl-C again to discard them)\n");
            pipeline->request_stop();
        } else {
            say("\nfinishing the report (Ctrl-C again to exit now)\n");
        }
        return;
    }
    if (pipeline != nullptr) {
        say("\ndiscarding the frames in flight; finalising what can be finalised at once\n");
        pipeline->request_abort();
        ::alarm(kHardExitSeconds);
    } else {
        ::_exit(1);
    }
}

void install_interrupt_handlers() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a reader of stdout that goes away is a write error (EPIPE), not death
    sigaction(SIGTERM, &action, nullptr);
    action.sa_handler = on_alarm;
    sigaction(SIGALRM, &action, nullptr);
}

struct RunArgs {
    std::string pipeline;
    std::vector<std::string> inputs;
    std::vector<std::string> sets;
    std::string report_path;
    std::string trace_path;
    std::string frames_path;
    bool no_plan = false;
    std::string dry_run_format;  // empty: no dry run; text or dot
    bool quiet = false;
    bool verbose = false;
};

// Every output of report_outputs next to the JSON report, except those `skip` names by extension. Returns their paths.
std::vector<std::string> write_report_outputs(const RunReport& report, const std::string& json_path,
                                              const std::string& title, std::string_view skip = {}) {
    std::vector<std::string> paths;
    for (const ReportOutput& output : report_outputs) {
        if (output.extension == skip) continue;
        paths.push_back(report_output_path(json_path, output.extension));
        output.write(report, paths.back(), title);
    }
    return paths;
}

PipelineFile load(const std::string& path, const std::vector<std::string>& sets) { return load_pipeline_file(path, sets); }

int run(const RunArgs& args) {
    install_interrupt_handlers();
    cli::set_up_logging(args.quiet ? cli::Verbosity::quiet : args.verbose ? cli::Verbosity::verbose : cli::Verbosity::normal);
    const PipelineFile file = load(args.pipeline, args.sets);
    cli::Progress progress(!args.quiet && args.dry_run_format.empty());
    PipelineOptions options;
    options.on_progress = [&progress](const RunReport& snapshot) { progress.update(snapshot); };
    options.progress_interval = std::chrono::milliseconds(500);
    options.trace_path = args.trace_path;
    options.frames_path = args.frames_path;
    options.plan = !args.no_plan;
    std::unique_ptr<Pipeline> pipeline = build_pipeline(file, args.inputs, options);
    if (!args.dry_run_format.empty()) {
        std::fputs(pipeline->describe(args.dry_run_format == "dot" ? DescribeFormat::dot : DescribeFormat::text).c_str(),
                   stdout);
        return 0;
    }
    struct Running {  // the signal handler reaches the pipeline only while it runs, also when run() throws
        explicit Running(Pipeline& p) {
            g_running.store(&p);
            g_phase.store(Phase::running);
        }
        ~Running() {
            g_phase.store(Phase::reporting);
            g_running.store(nullptr);
        }
    };
    const RunReport report = [&] {
        const Running running(*pipeline);
        return pipeline->run();
    }();
    progress.clear();
    // A stage writing to standard output (y4m, stream_out to "-") owns it: the summary goes to stderr then.
    const bool stdout_taken = std::any_of(file.stages.begin(), file.stages.end(), [](const StageEntry& entry) {
        if (entry.options.has("to")) return entry.options.text("to") == "-";
        const StageSpec* spec = find_stage_spec(entry.type);
        return spec != nullptr && std::any_of(spec->options.begin(), spec->options.end(), [](const OptionSpec& o) {
                   return o.name == "to" && o.default_value == "-";
               });
    });
    std::fputs(format_summary(report).c_str(), stdout_taken ? stderr : stdout);
    if (!args.report_path.empty()) {
        write_report_json(report, args.report_path);
        const std::vector<std::string> outputs =
            write_report_outputs(report, args.report_path, std::filesystem::path(args.pipeline).filename().string());
        spdlog::info("report: {} (and {})", args.report_path, fmt::join(outputs, ", "));
    }
    if (!args.trace_path.empty()) spdlog::info("trace: {} (open it in chrome://tracing or ui.perfetto.dev)", args.trace_path);
    if (!args.frames_path.empty()) spdlog::info("frames: {} (a record per frame, times in ms since the start)", args.frames_path);
    if (!report.balanced())
        spdlog::error("frame accounting does not add up (an internal error); the figures above show where");
    if (!report.ok()) return 1;
    if (g_interrupts.load() >= 2) {  // the frames in flight were discarded on request: not a clean end
        spdlog::warn("the run was interrupted twice: frames in flight were discarded (counted above)");
        return 1;
    }
    if (!report.stopped) {  // a run that went to its end but delivered nothing failed, whatever the reason
        bool delivered = false;
        for (const SourceReport& s : report.sources) delivered = delivered || s.delivered > 0;
        for (const SourceReport& s : report.sources)
            if (s.delivered == 0) {
                if (delivered) spdlog::warn("{}: nothing was delivered: {}", s.name, cli::why_nothing_delivered(s));
                else spdlog::error("{}: nothing was delivered: {}", s.name, cli::why_nothing_delivered(s));
            }
        if (!delivered) return 1;
    }
    return report.balanced() ? 0 : 1;
}

int report_command(const std::string& path, std::string html) {
    RunReport report = read_report_json(path);
    report.limits = diagnose(report);  // with this version's analysis
    report.verdict = bottleneck_verdict(report);
    std::fputs(format_summary(report).c_str(), stdout);
    const std::string title = std::filesystem::path(path).filename().string();
    if (html.empty()) html = report_output_path(path, ".html");
    write_report_html(report, html, title);  // where --html says; the other outputs next to the report
    for (const std::string& written : write_report_outputs(report, path, title, ".html"))
        fmt::print("written: {}\n", written);
    fmt::print("picture: {}\n", html);
    return 0;
}

// What run checks before it opens anything, through the same calls (load_pipeline_file, then build_pipeline, which
// checks the chains as Pipeline::run() does); opens and writes nothing. Without inputs in the file or on the command
// line, the chains are checked for a stand-in input: before opening, only the source's options depend on the input
// (and whether it has packets: a stand-in stream when a stage takes them).
int validate(const std::string& path, const std::vector<std::string>& given_inputs, const std::vector<std::string>& sets) {
    const PipelineFile file = load(path, sets);
    std::vector<InputEntry> inputs = file.inputs;
    if (!given_inputs.empty()) {
        inputs.clear();
        for (const std::string& argument : given_inputs) inputs.push_back(parse_input(argument));
    }
    const bool takes_packets = std::any_of(file.stages.begin(), file.stages.end(),
                                           [](const StageEntry& entry) { return entry.from == kFromPackets; });
    const std::string stand_in = takes_packets ? "rtsp://stand-in.invalid/stream" : "synthetic";
    (void)build_pipeline(file, inputs.empty() ? std::vector<std::string>{stand_in} : given_inputs);
    std::string chain;
    for (const StageEntry& entry : file.stages) chain += (chain.empty() ? "" : " -> ") + entry.name;
    fmt::print("{}: OK, {} stage(s): {}\n", path, file.stages.size(), chain);
    for (const InputEntry& input : inputs)
        fmt::print("  input: {}{} ({})\n", input.name.empty() ? "" : input.name + " = ", VideoSource::redacted(input.path),
                   source_type_of(input, file.source));
    if (inputs.empty()) fmt::print("  no inputs: give them to 'framepipe run' after the pipeline file\n");
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

void print_options(const std::vector<OptionSpec>& options) {
    if (options.empty()) fmt::print("  options: none\n");
    else fmt::print("  options:\n");
    for (const OptionSpec& o : options)
        fmt::print("    {:<15} {:<9} {:<24} {:<22} {}\n", o.name, kind_name(o.kind),
                   o.required ? "required" : o.default_value.empty() ? "default: unset" : "default: " + o.default_value,
                   allowed(o), o.help);
}

void print_spec(const StageSpec& spec) {
    fmt::print("{}: {}\n  runs on: {}\n  example: {}\n", spec.type, spec.summary, runs_on(spec.traits), spec.example);
    print_options(spec.options);
    fmt::print("  every stage also takes: name (its name in reports and --set), edge: {{ capacity, overflow "
               "({}), max_age }}\n",
               overflow_names("|", "|"));
}

void print_spec(const SourceSpec& spec) {
    fmt::print("{}: {}\n  runs on: {}\n  example: {}\n", spec.type, spec.summary, spec.runs_on, spec.example);
    print_options(spec.options);
    fmt::print("  (source options go under 'source:' in a pipeline file, or --set source.OPTION=VALUE)\n");
}

// A Markdown table cell: '|' would end the cell.
std::string cell(std::string text) {
    for (std::size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) text.replace(at, 1, "\\|");
    return text;
}

void print_markdown_options(const std::vector<OptionSpec>& options) {
    if (options.empty()) {
        fmt::print("No options.\n\n");
        return;
    }
    fmt::print("| option | kind | default | allowed | meaning |\n|---|---|---|---|---|\n");
    for (const OptionSpec& o : options)
        fmt::print("| `{}` | {} | {} | {} | {} |\n", o.name, kind_name(o.kind),
                   o.required ? "required" : o.default_value.empty() ? "unset" : cell("`" + o.default_value + "`"),
                   cell(allowed(o)), cell(o.help));
    fmt::print("\n");
}

// The option tables of README.md, generated from the registry (tests/cli/readme_tables_test.cpp keeps them equal).
int stages_markdown() {
    fmt::print("<!-- generated by `framepipe stages --markdown`: do not edit by hand -->\n\n");
    for (const StageSpec& spec : stage_catalog()) {
        fmt::print("#### Stage `{}`\n\n{} ({}). Example: `{}`\n\n", spec.type, spec.summary, runs_on(spec.traits),
                   spec.example.substr(2));
        print_markdown_options(spec.options);
    }
    for (const SourceSpec& spec : source_catalog()) {
        fmt::print("#### Source `{}`\n\n{} ({}). Example: `{}`\n\n", spec.type, spec.summary, spec.runs_on,
                   spec.example);
        print_markdown_options(spec.options);
    }
    fmt::print("<!-- end of generated tables -->\n");
    return 0;
}

int stages(const std::string& type, bool markdown) {
    if (markdown) return stages_markdown();
    if (!type.empty()) {
        if (const StageSpec* spec = find_stage_spec(type)) {
            print_spec(*spec);
            return 0;
        }
        if (const SourceSpec* spec = find_source_spec(type)) {
            print_spec(*spec);
            return 0;
        }
        std::vector<std::string> types;
        for (const StageSpec& spec : stage_catalog()) types.push_back(spec.type);
        for (const SourceSpec& spec : source_catalog()) types.push_back(spec.type);
        throw ConfigError(fmt::format("no stage or source type '{}'{}; 'framepipe stages' lists them", type,
                                      detail::did_you_mean(type, types)));
    }
    fmt::print("Stages ('framepipe stages TYPE' shows one with its options):\n");
    for (const StageSpec& spec : stage_catalog())
        fmt::print("  {:<20} {:<28} {}\n", spec.type, runs_on(spec.traits), spec.summary);
    fmt::print("\nSources (chosen for each input; options go under 'source:'):\n");
    for (const SourceSpec& spec : source_catalog()) fmt::print("  {:<20} {:<28} {}\n", spec.type, "", spec.summary);
    fmt::print("\nEdges: every stage's input edge has a capacity, an overflow policy for when it is full (block is the "
               "default for files,\ndrop_oldest after a live source):\n");
    for (const OverflowPolicy& policy : overflow_policies) fmt::print("  {:<20} {}\n", policy.name, policy.when_full);
    fmt::print("and optionally max_age (drop frames older than that).\n");
    return 0;
}

int probe(const std::vector<std::string>& inputs) {
    for (const std::string& input : inputs) {
        const std::string type = source_type_of({input, "", {}, 0}, {});
        if (type == "synthetic") {
            fmt::print("{}: synthetic test pattern (options: framepipe stages synthetic)\n", input);
            continue;
        }
        if (type == "images") {  // the listing and the first readable image's header: nothing is decoded
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
                   VideoSource::redacted(input), p.container, p.codec, p.pixel_format,
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

// A message on stderr, "framepipe: " before each of its lines (a pipeline file's problems come one per line).
void print_error(std::string_view message) {
    for (std::size_t from = 0; from <= message.size();) {
        const std::size_t to = std::min(message.find('\n', from), message.size());
        fmt::print(stderr, "framepipe: {}\n", message.substr(from, to - from));
        from = to + 1;
    }
}

// A first argument that is no option and no command: which command was meant (CLI11 would only say it was not
// expected). Returns whether it was one.
bool unknown_command(CLI::App& app, int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') return false;
    std::vector<std::string> names;
    for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; }))
        names.push_back(command->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) != names.end()) return false;
    print_error(fmt::format("unknown command '{}'{}; commands are {} ('framepipe --help' says more)", argv[1],
                            detail::did_you_mean(argv[1], names), fmt::join(names, ", ")));
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"framepipe: real-time frame processing pipelines"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "framepipe " FRAMEPIPE_VERSION);

    RunArgs run_args;
    CLI::App* run_cmd = app.add_subcommand("run", "Run a pipeline file on inputs");
    run_cmd->add_option("pipeline", run_args.pipeline, "Pipeline file (see pipelines/)")->required();
    run_cmd->add_option("inputs", run_args.inputs, "Video files, image folders or patterns, or 'synthetic'");
    run_cmd->add_option("--set", run_args.sets, "Change a setting: STAGE.OPTION=VALUE, STAGE.edge.capacity=N, "
                                                "source.OPTION=VALUE, edges.capacity=N, threads=N")
        ->allow_extra_args(false);
    run_cmd
        ->add_flag("--dry-run{text}", run_args.dry_run_format,
                   "Print the resolved graph (stages, branches, edges, policies) and exit; --dry-run=dot prints Graphviz "
                   "DOT instead (... --dry-run=dot | dot -Tsvg -o graph.svg)")
        ->check(CLI::IsMember({"text", "dot"}));
    run_cmd->add_option("--report", run_args.report_path,
                        "Write the run report as JSON (schema framepipe-report/3) and, next to it, an HTML page of charts");
    run_cmd->add_option("--trace", run_args.trace_path,
                        "Write a Chrome trace-event file (chrome://tracing, Perfetto): a slice per frame per stage");
    run_cmd->add_option("--frames", run_args.frames_path,
                        "Stream each frame's lineage to a file while running: capture time, per stage entered/started/"
                        "finished (ms since the start) and how it ended; JSON Lines, or CSV when the name ends in .csv");
    run_cmd->add_flag("--no-plan", run_args.no_plan,
                      "Run every stage as declared: no planner rewrites (--dry-run shows what the planner would do)");
    run_cmd->add_flag("-q,--quiet", run_args.quiet, "No progress line, only warnings and the summary");
    run_cmd->add_flag("-v,--verbose", run_args.verbose, "Also show debug messages (including FFmpeg's)");

    std::string validate_path;
    std::vector<std::string> validate_inputs, validate_sets;
    CLI::App* validate_cmd =
        app.add_subcommand("validate", "Check a pipeline file (and inputs) as run does, without opening anything");
    validate_cmd->add_option("pipeline", validate_path, "Pipeline file")->required();
    validate_cmd->add_option("inputs", validate_inputs, "Inputs as run takes them (checked, not opened)");
    validate_cmd->add_option("--set", validate_sets, "Change a setting before checking")->allow_extra_args(false);

    std::string stage_type;
    bool markdown = false;
    CLI::App* stages_cmd = app.add_subcommand("stages", "List stage and source types with their options");
    stages_cmd->add_option("type", stage_type, "Show one type in detail");
    stages_cmd->add_flag("--markdown", markdown, "Print every type's option table as Markdown (README.md's tables)");

    // Plugins: shared libraries declaring more stage and source types (see include/framepipe/registry.hpp).
    std::vector<std::string> plugins;
    for (CLI::App* command : {run_cmd, validate_cmd, stages_cmd})
        command->add_option("--plugin", plugins, "Load stage and source types from a plugin (a .so file)")
            ->allow_extra_args(false);

    std::string report_json, report_html;
    CLI::App* report_cmd = app.add_subcommand("report", "Print a saved run report and draw its HTML page again");
    report_cmd->add_option("report", report_json, "A report written by 'run --report'")->required();
    report_cmd->add_option("--html", report_html, "Where to write the page (default: next to the report)");

    cli::CompareArgs compare_args;
    CLI::App* compare_cmd = app.add_subcommand(
        "compare", "Run a pipeline on inputs in the ways people time by hand (sequential, a thread per input, a "
                   "process per input, framepipe's graph) and print one table");
    compare_cmd->add_option("pipeline", compare_args.pipeline, "Pipeline file")->required();
    compare_cmd->add_option("inputs", compare_args.inputs, "Inputs, as run takes them")->required();
    compare_cmd->add_option("--set", compare_args.sets, "Change a setting, for every way")->allow_extra_args(false);
    compare_cmd->add_option("--out", compare_args.out,
                            "Keep each way's outputs in DIR/<way>/ (default: a temporary folder, removed)");
    compare_cmd->add_flag("--json", compare_args.json, "Print the table as JSON");

    cli::WorkerArgs worker_args;
    CLI::App* worker_cmd = app.add_subcommand(
        "worker", "Run a pipeline on each input of a shared Redis Stream queue, with other workers, until stopped");
    worker_cmd->add_option("pipeline", worker_args.pipeline, "Pipeline file")->required();
    worker_cmd->add_option("--queue", worker_args.queue, "redis://[:PASSWORD@]HOST[:PORT]/STREAM")->required();
    worker_cmd->add_option("--set", worker_args.sets, "Change a setting")->allow_extra_args(false);
    worker_cmd->add_option("--group", worker_args.group, "Consumer group (default: framepipe)");
    worker_cmd->add_option("--consumer", worker_args.consumer, "This worker's name in the group (default: HOST-PID)");
    worker_cmd->add_option("--claim-after", worker_args.claim_after,
                           "Take over another worker's entry idle this long (default: 60s)");
    worker_cmd->add_option("--tries", worker_args.tries, "Tries per input before it goes to STREAM:dead (default: 3)");
    worker_cmd->add_flag("--exit-when-empty", worker_args.exit_when_empty,
                         "Exit once nothing is left to take or pending (batch jobs)");
    worker_cmd->add_option("--metrics-file", worker_args.metrics_file,
                           "Write Prometheus metrics here (node_exporter textfile collector)");
    cli::SubmitArgs submit_args;
    CLI::App* submit_cmd = app.add_subcommand("submit", "Add inputs to a Redis Stream queue for workers");
    submit_cmd->add_option("--queue", submit_args.queue, "redis://[:PASSWORD@]HOST[:PORT]/STREAM")->required();
    submit_cmd->add_option("inputs", submit_args.inputs, "Inputs (INPUT or NAME=INPUT)")->required();

    std::vector<std::string> probe_inputs;
    CLI::App* probe_cmd = app.add_subcommand("probe", "Show what an input delivers (size, rate, codec, frames)");
    probe_cmd->add_option("inputs", probe_inputs, "Inputs")->required();

    app.add_subcommand("devices", "List V4L2 cameras with their formats, sizes and frame rates");

    if (unknown_command(app, argc, argv)) return 2;
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        for (const std::string& plugin : plugins) load_plugin(plugin);
        if (run_cmd->parsed()) return run(run_args);
        cli::set_up_logging(cli::Verbosity::normal);
        if (validate_cmd->parsed()) return validate(validate_path, validate_inputs, validate_sets);
        if (stages_cmd->parsed()) return stages(stage_type, markdown);
        if (probe_cmd->parsed()) return probe(probe_inputs);
        if (app.got_subcommand("devices")) return devices();
        if (report_cmd->parsed()) return report_command(report_json, report_html);
        if (compare_cmd->parsed()) return cli::compare(compare_args);
        if (worker_cmd->parsed()) return cli::worker(worker_args);
        if (submit_cmd->parsed()) return cli::submit(submit_args);
    } catch (const ConfigError& e) {
        cli::clear_progress_line();
        print_error(e.what());
        return 2;
    } catch (const std::exception& e) {
        cli::clear_progress_line();
        print_error(e.what());
        return 1;
    }
    return 2;
}
