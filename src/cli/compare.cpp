#include "compare.hpp"

#include "config/command_line.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/report.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace framepipe::cli {
namespace {

struct Way {
    const char* key;
    const char* label;
    bool one_process;       // every input in one `framepipe run`
    bool inputs_at_once;    // processes per input run concurrently (else one after another)
    bool single_threaded;   // 1 worker (1 per input when one_process) and 1 decoder thread per input
    bool plan;              // the planner's rewrites (the hand-written ways do each stage as declared, as a loop does)
};

constexpr Way kWays[] = {
    {"sequential", "sequential", false, false, true, false},
    {"thread_per_input", "thread per input", true, true, true, false},
    {"process_per_input", "process per input", false, true, true, false},
    {"graph_no_plan", "graph, no planner", true, true, false, false},
    {"graph", "framepipe graph", true, true, false, true},
};

struct Child {
    pid_t pid = -1;
    fs::path log;
    fs::path report;
};

struct Outputs {
    std::size_t files = 0;
    std::uintmax_t bytes = 0;
    std::uint64_t checksum = 0xcbf29ce484222325ULL;  // FNV-1a 64 of every file's path and bytes, in path order
};

struct Result {
    const Way* way = nullptr;
    double wall_s = 0;
    double cpu_s = 0;
    long peak_kib = 0;                 // one process: its peak; several at once: the sum of their peaks
    std::uint64_t captured = 0;
    std::uint64_t delivered = 0;
    double p50_ms = 0;                 // end-to-end latency, the worst input's
    double p99_ms = 0;
    Outputs outputs;
    std::string failure;               // empty when every process ran and its run was ok
};

std::string self_path() {
    std::error_code error;
    const fs::path self = fs::read_symlink("/proc/self/exe", error);
    if (error) throw Error("compare: cannot find the framepipe program itself (/proc/self/exe): " + error.message());
    return self.string();
}

// Starts `framepipe ARGS...` in `cwd`, its output to `log`.
Child spawn(const std::string& program, const std::vector<std::string>& args, const fs::path& cwd, const fs::path& log,
            const fs::path& report) {
    std::vector<std::string> argv_text{program};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_text) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(fmt::format("compare: cannot start a process: {}", std::strerror(errno)));
    if (pid == 0) {  // the child: only async-signal-safe calls until exec
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(127);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::execv(program.c_str(), argv.data());
        ::_exit(127);
    }
    return {pid, log, report};
}

// Waits for `child`; adds its CPU time and returns its peak memory (KiB). Sets `failure` when it did not exit 0.
long wait_for(const Child& child, double& cpu_s, std::string& failure) {
    int status = 0;
    rusage usage{};
    while (::wait4(child.pid, &status, 0, &usage) < 0)
        if (errno != EINTR) throw Error(fmt::format("compare: waiting for a run: {}", std::strerror(errno)));
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    cpu_s += seconds(usage.ru_utime) + seconds(usage.ru_stime);
    if (failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        std::ifstream log(child.log);
        std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
        if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
        failure = WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status))
                                    : fmt::format("killed by signal {}", WTERMSIG(status));
        failure += fmt::format(" (log {}):\n{}", child.log.string(), text);
    }
    return usage.ru_maxrss;
}

Outputs outputs_in(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
        if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    Outputs outputs;
    const auto mix = [&](const char* data, std::size_t size) {
        for (std::size_t i = 0; i < size; ++i) {
            outputs.checksum ^= static_cast<unsigned char>(data[i]);
            outputs.checksum *= 0x100000001b3ULL;
        }
    };
    std::vector<char> buffer(1 << 16);
    for (const fs::path& file : files) {
        const std::string name = fs::relative(file, dir).string();
        mix(name.c_str(), name.size() + 1);
        std::ifstream in(file, std::ios::binary);
        while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
            mix(buffer.data(), static_cast<std::size_t>(in.gcount()));
        ++outputs.files;
        outputs.bytes += fs::file_size(file);
    }
    return outputs;
}

Result run_way(const Way& way, const std::string& program, const std::string& pipeline,
               const std::vector<std::string>& inputs, const std::vector<std::string>& sets, bool all_video,
               const fs::path& root) {
    Result result{.way = &way};
    const fs::path work = root / way.key;            // the pipeline's outputs (its working directory)
    const fs::path logs = root / ".compare" / way.key;  // reports and logs, kept apart from the outputs
    fs::create_directories(work);
    fs::create_directories(logs);

    std::vector<std::vector<std::string>> runs;  // the inputs of each `framepipe run`
    if (way.one_process) runs.push_back(inputs);
    else
        for (const std::string& input : inputs) runs.push_back({input});

    const auto args_for = [&](const std::vector<std::string>& run_inputs, const fs::path& report) {
        std::vector<std::string> args{"run", pipeline};
        args.insert(args.end(), run_inputs.begin(), run_inputs.end());
        for (const std::string& set : sets) args.insert(args.end(), {"--set", set});
        if (way.single_threaded) {
            args.insert(args.end(), {"--set", fmt::format("threads={}", run_inputs.size())});
            if (all_video) args.insert(args.end(), {"--set", "source.decode_threads=1"});
        }
        if (!way.plan) args.emplace_back("--no-plan");
        args.insert(args.end(), {"--report", report.string(), "--quiet"});
        return args;
    };

    std::vector<Child> children;
    long peak_sum = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const fs::path report = logs / fmt::format("run{}.json", i);
        children.push_back(spawn(program, args_for(runs[i], report), work, logs / fmt::format("run{}.log", i), report));
        if (!way.inputs_at_once) {  // one after another: its peak is the largest
            result.peak_kib = std::max(result.peak_kib, wait_for(children.back(), result.cpu_s, result.failure));
        }
    }
    if (way.inputs_at_once)
        for (const Child& child : children) peak_sum += wait_for(child, result.cpu_s, result.failure);
    result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (way.inputs_at_once) result.peak_kib = peak_sum;

    for (const Child& child : children) {
        if (!fs::exists(child.report)) continue;  // the failure says why
        const RunReport report = read_report_json(child.report.string());
        if (!report.ok() && result.failure.empty()) result.failure = report.error->describe();
        for (const SourceReport& source : report.sources) {
            result.captured += source.captured;
            result.delivered += source.delivered;
            result.p50_ms = std::max(result.p50_ms, std::chrono::duration<double, std::milli>(source.end_to_end.p50).count());
            result.p99_ms = std::max(result.p99_ms, std::chrono::duration<double, std::milli>(source.end_to_end.p99).count());
        }
    }
    result.outputs = outputs_in(work);
    return result;
}

std::string way_check(const Result& result, const Result& reference) {
    if (!result.failure.empty()) return "FAILED";
    if (&result == &reference) return "reference";
    if (result.delivered != reference.delivered) return "OTHER FRAME COUNT";
    if (result.outputs.files != reference.outputs.files) return "OTHER FILES";
    return result.outputs.checksum == reference.outputs.checksum ? "same" : "same frames, other bytes";
}

}  // namespace

int compare(const CompareArgs& args) {
    // Everything that can be wrong with what was asked is found before anything runs.
    if (args.inputs.empty()) throw ConfigError("compare: give the inputs to run the pipeline on");
    const PipelineFile file = load_pipeline_file(args.pipeline, args.sets);  // the settings are checked here too
    std::vector<std::string> inputs;
    bool all_video = true;
    for (const std::string& argument : args.inputs) {
        InputEntry input = parse_input(argument);
        all_video = all_video && source_type_of(input, file.source) == "video";
        std::error_code error;
        const bool local = input.path.find("://") == std::string::npos && input.path.rfind("synthetic", 0) != 0 &&
                           input.path.rfind("/dev/", 0) != 0;
        if (local && source_type_of(input, file.source) == "video" && !fs::exists(input.path, error))
            throw ConfigError(fmt::format("compare: input '{}': no such file; check the path", input.path));
        if (fs::exists(input.path, error)) {  // a file or folder: the ways run elsewhere
            const std::string absolute = fs::absolute(input.path).string();
            inputs.push_back(input.name.empty() ? absolute : input.name + "=" + absolute);
        } else {
            inputs.push_back(argument);  // a URL, synthetic, a pattern
        }
    }
    (void)build_pipeline(file, inputs);                    // the inputs are
    fs::path root;
    bool temporary = false;
    if (args.out.empty()) {
        std::string pattern = (fs::temp_directory_path() / "framepipe-compare.XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw Error(fmt::format("compare: cannot make a temporary folder: {}", std::strerror(errno)));
        root = pattern;
        temporary = true;
    } else {
        root = fs::absolute(args.out);
        std::error_code error;
        if (fs::exists(root, error) && !fs::is_empty(root, error))
            throw ConfigError(fmt::format("compare: '{}' is not empty; give an empty or new folder for the outputs",
                                          args.out));
        fs::create_directories(root);
    }
    const std::string pipeline = fs::absolute(args.pipeline).string();
    const std::string program = self_path();

    std::vector<Result> results;
    for (const Way& way : kWays) {
        if (!args.json) spdlog::info("compare: {} ...", way.label);
        results.push_back(run_way(way, program, pipeline, inputs, args.sets, all_video, root));
    }
    const bool any_failed = std::any_of(results.begin(), results.end(), [](const Result& r) { return !r.failure.empty(); });
    if (temporary && !any_failed) fs::remove_all(root);  // kept when a way failed: its log is there

    const Result& reference = results.front();
    const unsigned processors = std::max(1U, std::thread::hardware_concurrency());
    bool failed = false;
    for (const Result& result : results) {
        const std::string check = way_check(result, reference);
        failed = failed || check == "FAILED" || check == "OTHER FRAME COUNT";
    }
    if (args.json) {
        nlohmann::json ways = nlohmann::json::array();
        for (const Result& r : results)
            ways.push_back({{"way", r.way->key},
                            {"label", r.way->label},
                            {"wall_s", r.wall_s},
                            {"frames", r.delivered},
                            {"captured", r.captured},
                            {"fps", r.wall_s > 0 ? static_cast<double>(r.delivered) / r.wall_s : 0.0},
                            {"cpu_s", r.cpu_s},
                            {"cores_used", r.wall_s > 0 ? r.cpu_s / r.wall_s : 0.0},
                            {"peak_mib", static_cast<double>(r.peak_kib) / 1024},
                            {"end_to_end_p50_ms", r.p50_ms},
                            {"end_to_end_p99_ms", r.p99_ms},
                            {"speedup", r.wall_s > 0 ? reference.wall_s / r.wall_s : 0.0},
                            {"output_files", r.outputs.files},
                            {"output_bytes", r.outputs.bytes},
                            {"output_checksum", fmt::format("{:016x}", r.outputs.checksum)},
                            {"check", way_check(r, reference)},
                            {"error", r.failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.failure)}});
        const nlohmann::json out{{"pipeline", args.pipeline}, {"inputs", args.inputs}, {"processors", processors},
                                 {"ways", ways}};
        fmt::print("{}\n", out.dump(2));
        return failed ? 1 : 0;
    }
    fmt::print("framepipe compare: {} on {} input(s), {} processor(s)\n", args.pipeline, args.inputs.size(), processors);
    fmt::print("{:<18} {:>7} {:>7} {:>8} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8}  {}\n", "way", "wall s", "frames",
               "frames/s", "CPU s", "cores", "peak MiB", "p50 ms", "p99 ms", "speed-up", "outputs");
    for (const Result& r : results) {
        fmt::print("{:<18} {:>7.2f} {:>7} {:>8.1f} {:>6.2f} {:>5.2f} {:>8.0f} {:>8.1f} {:>8.1f} {:>7.2f}x  {} files, "
                   "{:016x}, {}\n",
                   r.way->label, r.wall_s, r.delivered, r.wall_s > 0 ? static_cast<double>(r.delivered) / r.wall_s : 0.0,
                   r.cpu_s, r.wall_s > 0 ? r.cpu_s / r.wall_s : 0.0, static_cast<double>(r.peak_kib) / 1024, r.p50_ms,
                   r.p99_ms, r.wall_s > 0 ? reference.wall_s / r.wall_s : 0.0, r.outputs.files, r.outputs.checksum,
                   way_check(r, reference));
    }
    fmt::print("sequential: inputs one after another, 1 worker thread; thread per input: one process, a worker thread "
               "per input; process per input: all at once, 1 worker each (peak MiB: their sum). These three and 'graph, "
               "no planner' run every stage as declared, as a hand-written loop does; 'framepipe graph' is `framepipe "
               "run` as it is. p50/p99: end-to-end latency of the worst input.\n");
    const auto fastest = std::min_element(results.begin(), results.end(), [](const Result& a, const Result& b) {
        return a.failure.empty() && (!b.failure.empty() || a.wall_s < b.wall_s);
    });
    if (!reference.failure.empty() || !fastest->failure.empty())
        fmt::print("no speed-up to quote: the sequential way (the reference) or every way failed\n");
    else
        fmt::print("fastest: {}, {:.2f}x sequential\n", fastest->way->label, reference.wall_s / fastest->wall_s);
    for (const Result& r : results)
        if (!r.failure.empty()) spdlog::error("compare: {} failed: {}", r.way->label, r.failure);
    if (!args.out.empty()) fmt::print("outputs: {}/<way>/ (reports and logs in {}/.compare/)\n", root.string(), root.string());
    return failed ? 1 : 0;
}

}  // namespace framepipe::cli
