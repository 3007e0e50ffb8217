// libFuzzer target: pipeline files, --set settings and command-line inputs, through everything `framepipe validate`
// runs before it opens anything (parse_pipeline, apply_setting, check_stages, build_pipeline with Pipeline::validate,
// source_type_of, VideoSource::redacted).
//
// Input: the text of a pipeline file. Its comment lines "#set KEY=VALUE" are also --set settings, and "#input ARG"
// lines command-line inputs (YAML ignores both), so one input is a whole `framepipe validate` command line.
//
// Contract checked: each call returns, or throws framepipe::ConfigError with a message. Another exception type escapes
// (libFuzzer reports it), as do crashes and sanitizer reports; hangs and unbounded memory are caught by -timeout and
// -rss_limit_mb.
//
// With FRAMEPIPE_FUZZ_EXPORT=DIR in the environment it writes DIR/pipeline_file.dict (a libFuzzer dictionary: the
// file's keys, every stage and source type, option and choice from the catalogues, YAML syntax, the directives) and
// DIR/example-TYPE.yaml (each stage type's catalogue example as a one-stage file), then exits: seeds and dictionary
// follow the catalogues without being kept in step by hand.

#include "config/command_line.hpp"
#include "media/stream_name.hpp"

#include <framepipe/edge.hpp>
#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace framepipe;

constexpr std::size_t kMaxDirectives = 16;  // settings and inputs per run: each one re-runs checks

// A ConfigError must say something: every message is for the user to act on.
void expect_message(const ConfigError& error) {
    if (std::string_view(error.what()).empty()) {
        std::fprintf(stderr, "ConfigError without a message\n");
        std::abort();
    }
}

// A dictionary entry: the text in quotes, with quotes, backslashes and non-printable bytes escaped.
std::string dictionary_entry(const std::string& word) {
    std::string out = "\"";
    for (const unsigned char c : word) {
        if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
        else if (c < 0x20 || c >= 0x7F) out += fmt::format("\\x{:02X}", c);
        else out += static_cast<char>(c);
    }
    return out + "\"";
}

void export_seeds_and_dictionary(const std::string& dir) {
    std::set<std::string> words = {
        "stages:", "inputs:", "source:", "edges:", "threads:", "drain_timeout:", "description:", "type:", "name:",
        "edge:", "path:", "capacity:", "overflow:", "max_age:", "profile_spacing:", "auto", "video",
        "images", "synthetic", "synthetic:", "camera:0", "rtsp://u:p@h/s?token=t", "http://", "/dev/video0", "a=",
        "- ", ": ", "{ ", " }", "[", "]", ", ", "\n  - ", "\n    ", "null", "~", "\"", "'", "&a ", "*a", "<<: ",
        "!!str ", "!!map", "|\n", ">\n", "? ", "---\n", "...\n", "#set ", "#input ", "#set source.", "#set edges.",
        "#set threads=", ".edge.", "=", "ms", "us", "min", "s", "h", "d", "1e300", "-1", "0", "0.5", "1e-9", "nan",
        "inf", "true", "false", "{input}", "{clock}", "{frame}", "{index}", "{label}", "{seconds}", "{time}",
        "{}", "%"};
    for (const OverflowPolicy& policy : overflow_policies) words.insert(std::string(policy.name));
    const auto add_spec = [&](const auto& spec) {
        words.insert(spec.type);
        for (const OptionSpec& option : spec.options) {
            words.insert(option.name);
            words.insert(option.name + ": ");
            if (!option.default_value.empty()) words.insert(option.default_value);
            for (const std::string& choice : option.choices) words.insert(choice);
        }
    };
    for (const StageSpec& spec : stage_catalog()) {
        add_spec(spec);
        std::ofstream(dir + "/example-" + spec.type + ".yaml") << "stages:\n  " << spec.example << "\n";
    }
    for (const SourceSpec& spec : source_catalog()) add_spec(spec);
    std::ofstream dictionary(dir + "/pipeline_file.dict");
    for (const std::string& word : words) dictionary << dictionary_entry(word) << "\n";
    if (!dictionary) {
        std::fprintf(stderr, "cannot write %s/pipeline_file.dict\n", dir.c_str());
        std::exit(1);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    if (const char* dir = std::getenv("FRAMEPIPE_FUZZ_EXPORT")) {
        export_seeds_and_dictionary(dir);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> settings, inputs;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t end = std::min(text.find('\n', at), text.size());
        const std::string_view line = std::string_view(text).substr(at, end - at);
        if (line.starts_with("#set ") && settings.size() < kMaxDirectives) settings.emplace_back(line.substr(5));
        if (line.starts_with("#input ") && inputs.size() < kMaxDirectives) inputs.emplace_back(line.substr(7));
        at = end + 1;
    }
    const std::string path = "fuzz.yaml";

    // As `run` and `validate` load it: the file and its settings together.
    if (!settings.empty()) {
        try {
            (void)parse_pipeline(text, path, settings);
        } catch (const ConfigError& e) {
            expect_message(e);
        }
    }
    // The file alone, then each setting on the parsed file, then what validate checks after loading.
    PipelineFile file;
    try {
        file = parse_pipeline(text, path);
    } catch (const ConfigError& e) {
        expect_message(e);
        return 0;
    }
    for (const std::string& setting : settings) {
        try {
            apply_setting(file, setting);
        } catch (const ConfigError& e) {
            expect_message(e);
        }
    }
    try {
        check_stages(file);
    } catch (const ConfigError& e) {
        expect_message(e);
    }
    std::vector<InputEntry> entries = file.inputs;
    if (!inputs.empty()) {
        entries.clear();
        for (const std::string& argument : inputs) entries.push_back(parse_input(argument));
    }
    try {
        (void)build_pipeline(file, entries.empty() ? std::vector<std::string>{"synthetic"} : inputs);
    } catch (const ConfigError& e) {
        expect_message(e);
    }
    for (const InputEntry& entry : entries) {
        (void)VideoSource::redacted(entry.path);
        (void)media::stream_name(entry.path);
        try {
            (void)source_type_of(entry, file.source);
        } catch (const ConfigError& e) {
            expect_message(e);
        }
    }
    return 0;
}
