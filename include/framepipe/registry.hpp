#pragma once
// The registry of stage and source types: what `framepipe stages` lists, what pipeline files name, what `validate` and
// `--set` check, and how a program (or a plugin) makes a stage or a source by type without knowing its class.
//
// Each type is declared once, next to its class, by a namespace-scope registrar in the class's .cpp file:
//
//     const bool declared = framepipe::declare_stage({
//         .type = "blur",
//         .summary = "Gaussian blur",
//         .example = "- { type: blur, ksize: 5 }",
//         .traits = {.parallel = true},
//         .options = {{"ksize", OptionKind::integer, "5", "Kernel size, odd", 1, 99}},
//         .make = [](const std::string& name, const OptionValues& o) { return std::make_unique<Blur>(name, o); },
//     });
//
// and used as
//
//     auto blur = framepipe::make_stage("blur", {{"ksize", "5"}});
//
// Every option has a name, a kind, a default, a range or a set of choices, and a line of help. Values are parsed and
// checked once (parse_option), into typed values; a bad one throws ConfigError naming the option, what was given and
// what is allowed.
//
// Thread-safety: declarations happen while the library or a plugin loads (static initialisation, load_plugin), before
// any run; the catalogue is then read-only and may be read from any thread. load_plugin (also called by parse_pipeline
// and load_pipeline_file for a file's `plugins:`) must not run concurrently with anything that reads the catalogue
// (making stages or sources, building pipelines): load plugins first, then run. A plugin's static initialisers must not
// throw: they run inside dlopen, which cannot pass an exception on, so the process would end.

#include <framepipe/clock.hpp>
#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>
#include <framepipe/version.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace framepipe {

enum class OptionKind { integer, number, boolean, text, duration, choice };

struct OptionSpec {
    std::string name;
    OptionKind kind = OptionKind::text;
    std::string default_value;        // as text; empty with !required means "unset"
    std::string help;
    std::optional<double> min;        // integer, number, duration (seconds)
    std::optional<double> max;
    std::vector<std::string> choices; // choice
    bool required = false;
};

/// One checked option value: typed (integer -> int64, number -> double, boolean -> bool, duration -> Duration, text and
/// choice -> string) and its canonical text (what listings and messages show; compares equal to that text).
struct OptionValue {
    std::variant<std::int64_t, double, bool, std::string, Duration> value;
    std::string text;
    friend bool operator==(const OptionValue& a, std::string_view b) { return a.text == b; }
};

/// Parses and checks one value as `spec` allows. Throws ConfigError "option 'NAME' must be ..., got '...'".
OptionValue parse_option(const OptionSpec& spec, std::string_view text);

/// Option values after checking: typed getters. Getting an option that is unset and has no default throws ConfigError;
/// getting it as another kind than declared throws ConfigError too.
class OptionValues {
public:
    [[nodiscard]] bool has(std::string_view name) const;
    [[nodiscard]] std::int64_t integer(std::string_view name) const;
    [[nodiscard]] double number(std::string_view name) const;
    [[nodiscard]] bool boolean(std::string_view name) const;
    [[nodiscard]] const std::string& text(std::string_view name) const;
    [[nodiscard]] Duration duration(std::string_view name) const;

    void set(const std::string& name, OptionValue value) { values_[name] = std::move(value); }
    [[nodiscard]] const OptionValue& at(std::string_view name) const;
    [[nodiscard]] const std::map<std::string, OptionValue, std::less<>>& all() const { return values_; }

private:
    std::map<std::string, OptionValue, std::less<>> values_;
};

/// Makes a stage named `name` from checked options (defaults filled in); may throw ConfigError for combinations of
/// options. The caller owns the stage.
using StageFactory = std::function<std::unique_ptr<Stage>(const std::string& name, const OptionValues& options)>;

struct StageSpec {
    std::string type;                 // what pipeline files write after `type:`; unique
    std::string summary;              // one line for `framepipe stages`
    std::string example;              // one pipeline-file line, "- { type: TYPE, ... }"; must validate as written
    /// How the class runs (parallel, needs_ordered_input, blocking_io; the name is not used): make_stage checks every
    /// stage it makes against these, so `framepipe stages` cannot say otherwise than the class does.
    StageTraits traits;
    std::vector<OptionSpec> options;
    StageFactory make;
    /// Where listings put the type: lower first, ties in order of declaration. Declarations in different files run in
    /// the order of their static initialisers, which the build decides (a unity build differs from a plain one), so
    /// each file of declarations uses an order of its own.
    int list_order = 1000;
};

/// An input as a source factory gets it: what to read, and the name given to it (empty: the source's own).
struct SourceInput {
    std::string path;
    std::string name;
};

struct SourceSpec {
    std::string type;                 // what `source: { type: ... }` names; unique, not "auto"
    std::string summary;
    std::string example;              // "framepipe run p.yaml INPUT INPUT ..." (inputs this type claims); must validate
    std::string runs_on;              // for `framepipe stages`, e.g. "source thread + parallel decode stage"
    std::vector<OptionSpec> options;
    /// How strongly the type claims an input for `type: auto`: 0 not at all; the highest claim wins (ties: the first
    /// in listing order). Convention: 1 = a fallback for anything, 10 = by the input's form (a folder, an extension),
    /// 50 = by a prefix of its own ("synthetic:"), 100 = a URL.
    std::function<int(const std::string& input)> claims;
    /// Optional: throws ConfigError when the input cannot be this type even when a `type:` option forces it.
    std::function<void(const std::string& input)> refuses;
    /// Makes the source from checked options. Throws ConfigError for a bad input or combination of options.
    std::function<std::unique_ptr<Source>(const SourceInput& input, const OptionValues& options)> make;
    int list_order = 1000;
};

/// Declares a stage type (call from a namespace-scope initializer; returns true). Declaring a type twice in the
/// program is a programming error: the process aborts with a message. In a plugin, declarations take effect only
/// when load_plugin accepts the whole plugin.
bool declare_stage(StageSpec spec);
/// Declares a source type, as declare_stage.
bool declare_source(SourceSpec spec);

/// Every stage type, in listing order.
const std::vector<StageSpec>& stage_catalog();
/// Every source type, in listing order.
const std::vector<SourceSpec>& source_catalog();
/// The type's spec, or nullptr.
const StageSpec* find_stage_spec(std::string_view type);
const SourceSpec* find_source_spec(std::string_view type);

/// "parallel", "serial", "serial, dedicated thread", "parallel, dedicated threads": how stages with these traits run.
std::string runs_on(const StageTraits& traits);

/// Checks `given` (name -> text) against the options (unknown names, kinds, ranges, choices), fills defaults. `type`
/// names the stage or source in messages. Throws ConfigError.
OptionValues check_options(std::string_view type, const std::vector<OptionSpec>& options,
                           const std::map<std::string, std::string>& given);
/// Fills defaults into already parsed values and checks that every required option is there. Throws ConfigError.
OptionValues complete_options(std::string_view type, const std::vector<OptionSpec>& options, OptionValues given);
/// check_options for a stage type (kept for callers of the earlier API).
OptionValues check_options(const StageSpec& spec, const std::map<std::string, std::string>& given);

/// Makes a stage by type. `name` defaults to the type. Throws ConfigError for an unknown type or a bad option, and
/// std::logic_error when the made stage's traits differ from the declared ones.
std::unique_ptr<Stage> make_stage(std::string_view type, const std::map<std::string, std::string>& options = {},
                                  std::string name = {});
/// Makes a stage from parsed options (pipeline files and --set parse each value once, when they are read).
std::unique_ptr<Stage> make_stage(std::string_view type, const OptionValues& options, std::string name);

/// Parses "2s", "500ms", "1.5" (seconds), "1m", "250us". Throws ConfigError, also for more than 100 years.
Duration parse_duration(std::string_view text);

// ---- plugins --------------------------------------------------------------------------------------------------------
//
// A plugin is a shared library built against framepipe that declares stages and sources exactly as built-in ones are
// declared (declare_stage / declare_source registrars) and contains FRAMEPIPE_PLUGIN() once:
//
//     #include <framepipe/registry.hpp>
//     FRAMEPIPE_PLUGIN()
//
// load_plugin reads the version the plugin was built against from the file before loading it; a plugin of another
// version is refused (nothing of it runs). Its declarations take effect only if all of them are accepted (a type that
// already exists refuses the whole plugin). Plugins stay loaded until the process ends.

/// Loads the plugin at `path`. Throws ConfigError naming the file and saying what to do: no such file, not a framepipe
/// plugin, built against another framepipe version, a type already declared, or the loader's error. Loading the same
/// file twice does nothing the second time.
void load_plugin(const std::string& path);

}  // namespace framepipe

/// Marks a shared library as a framepipe plugin built against this version of framepipe (once per plugin).
#define FRAMEPIPE_PLUGIN()                                                                                             \
    extern "C" __attribute__((visibility("default"), used)) const char framepipe_plugin_version[] =                    \
        "FRAMEPIPE_PLUGIN_VERSION=" FRAMEPIPE_VERSION;
