#pragma once
// The catalogue of stage types: what `framepipe stages` lists, what pipeline files name, and how a program builds a
// stage by type without knowing its class.
//
//     auto blur = framepipe::make_stage("blur", {{"ksize", "5"}});
//
// Every option has a name, a kind, a default, a range or a set of choices, and a line of help. Values are given as
// text (as YAML scalars are) and checked when the stage is made: a bad one throws ConfigError naming the option, what
// was given and what is allowed.

#include <framepipe/clock.hpp>
#include <framepipe/stage.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

/// Option values after checking: typed getters. Getting an option that is unset and has no default throws.
class OptionValues {
public:
    [[nodiscard]] bool has(std::string_view name) const;
    [[nodiscard]] std::int64_t integer(std::string_view name) const;
    [[nodiscard]] double number(std::string_view name) const;
    [[nodiscard]] bool boolean(std::string_view name) const;
    [[nodiscard]] const std::string& text(std::string_view name) const;
    [[nodiscard]] Duration duration(std::string_view name) const;

    std::map<std::string, std::string, std::less<>> values;  // name -> canonical text
};

struct StageSpec {
    std::string type;
    std::string summary;
    std::string example;              // one pipeline-file line
    std::string concurrency;          // "parallel", "serial", "serial, dedicated thread"
    std::vector<OptionSpec> options;
    /// Makes the stage (named `name`) from checked options; may throw ConfigError for combinations of options.
    std::function<std::unique_ptr<Stage>(const std::string& name, const OptionValues& options)> make;
};

/// Every stage type, in the order `framepipe stages` lists them.
const std::vector<StageSpec>& stage_catalog();
/// The type's spec, or nullptr.
const StageSpec* find_stage_spec(std::string_view type);

/// Checks `given` against the spec (unknown names, kinds, ranges, choices), fills defaults. Throws ConfigError.
OptionValues check_options(const StageSpec& spec, const std::map<std::string, std::string>& given);

/// Makes a stage by type. `name` defaults to the type. Throws ConfigError for an unknown type or a bad option.
std::unique_ptr<Stage> make_stage(std::string_view type, const std::map<std::string, std::string>& options = {},
                                  std::string name = {});

/// Parses "2s", "500ms", "1.5" (seconds), "1m", "250us". Throws ConfigError, also for more than 100 years.
Duration parse_duration(std::string_view text);

}  // namespace framepipe
