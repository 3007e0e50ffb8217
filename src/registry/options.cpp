#include "registry/suggest.hpp"

#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace framepipe {
namespace {

std::string trimmed(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    return std::string(text);
}

std::optional<double> parse_number(std::string_view text) {
    const std::string s = trimmed(text);
    if (s.empty()) return std::nullopt;
    double value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(value)) return std::nullopt;
    return value;
}

std::string range_text(const OptionSpec& o) {
    const auto show = [&](double v) {
        return o.kind == OptionKind::duration ? fmt::format("{}s", v) : fmt::format("{}", v);
    };
    if (o.min && o.max) return fmt::format("between {} and {}", show(*o.min), show(*o.max));
    if (o.min) return fmt::format("at least {}", show(*o.min));
    if (o.max) return fmt::format("at most {}", show(*o.max));
    return "";
}

[[noreturn]] void bad_value(const OptionSpec& o, std::string_view given, const std::string& want) {
    throw ConfigError(fmt::format("option '{}' must be {}, got '{}'", o.name, want, given));
}

void check_range(const OptionSpec& o, double value, std::string_view given, const std::string& what) {
    if ((o.min && value < *o.min) || (o.max && value > *o.max))
        bad_value(o, given, fmt::format("{} {}", what, range_text(o)));
}

// Parses and checks one value into its typed form and canonical text.
OptionValue parse_value(const OptionSpec& o, std::string_view given) {
    switch (o.kind) {
        case OptionKind::integer: {
            const auto v = parse_number(given);
            if (!v || std::floor(*v) != *v) bad_value(o, given, "a whole number " + range_text(o));
            check_range(o, *v, given, "a whole number");
            if (std::fabs(*v) > 9e15)  // beyond what a double holds exactly, and far from int64's limits
                bad_value(o, given, "a whole number between -9e15 and 9e15");
            const auto i = static_cast<std::int64_t>(*v);
            return {i, fmt::format("{}", i)};
        }
        case OptionKind::number: {
            const auto v = parse_number(given);
            if (!v) bad_value(o, given, "a number " + range_text(o));
            check_range(o, *v, given, "a number");
            return {*v, trimmed(given)};
        }
        case OptionKind::boolean: {
            std::string s = trimmed(given);
            std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
            if (s == "true" || s == "yes" || s == "on" || s == "1") return {true, "true"};
            if (s == "false" || s == "no" || s == "off" || s == "0") return {false, "false"};
            bad_value(o, given, "true or false");
        }
        case OptionKind::duration: {
            Duration d{};
            try {
                d = parse_duration(given);
            } catch (const ConfigError&) {
                bad_value(o, given, "a duration such as 2s, 500ms or 1.5 " + range_text(o));
            }
            check_range(o, in_seconds(d), given, "a duration");
            return {d, trimmed(given)};
        }
        case OptionKind::choice: {
            std::string s = trimmed(given);
            if (std::find(o.choices.begin(), o.choices.end(), s) == o.choices.end())
                bad_value(o, given, fmt::format("one of {}", fmt::join(o.choices, ", ")));
            return {s, s};
        }
        case OptionKind::text:
            break;
    }
    return {std::string(given), std::string(given)};
}

template <class T>
const T& typed(const OptionValues& values, std::string_view name, const char* kind) {
    const T* value = std::get_if<T>(&values.at(name).value);
    if (value == nullptr) throw ConfigError(fmt::format("option '{}' is not declared as {}", name, kind));
    return *value;
}

}  // namespace

Duration parse_duration(std::string_view text) {
    const std::string s = trimmed(text);
    struct Unit {
        const char* suffix;
        double seconds;
    };
    static const Unit units[] = {{"us", 1e-6}, {"ms", 1e-3}, {"min", 60}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    double scale = 1;
    std::string_view number = s;
    for (const Unit& u : units) {
        const std::string_view suffix(u.suffix);
        if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            (std::isdigit(static_cast<unsigned char>(s[s.size() - suffix.size() - 1])) ||
             s[s.size() - suffix.size() - 1] == '.')) {
            scale = u.seconds;
            number = std::string_view(s).substr(0, s.size() - suffix.size());
            break;
        }
    }
    const auto v = parse_number(number);
    if (!v || *v < 0) throw ConfigError(fmt::format("'{}' is not a duration (try 2s, 500ms, 1.5)", text));
    // Longer ones are refused rather than wrapped (see kLongestDuration).
    if (*v * scale > in_seconds(kLongestDuration))
        throw ConfigError(fmt::format("'{}' is longer than 100 years, the longest duration framepipe takes", text));
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*v * scale));
}

OptionValue parse_option(const OptionSpec& spec, std::string_view text) { return parse_value(spec, text); }

bool OptionValues::has(std::string_view name) const { return values_.find(name) != values_.end(); }
const OptionValue& OptionValues::at(std::string_view name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) throw ConfigError(fmt::format("option '{}' is not set", name));
    return it->second;
}
std::int64_t OptionValues::integer(std::string_view name) const { return typed<std::int64_t>(*this, name, "an integer"); }
double OptionValues::number(std::string_view name) const { return typed<double>(*this, name, "a number"); }
bool OptionValues::boolean(std::string_view name) const { return typed<bool>(*this, name, "a boolean"); }
const std::string& OptionValues::text(std::string_view name) const { return typed<std::string>(*this, name, "text"); }
Duration OptionValues::duration(std::string_view name) const { return typed<Duration>(*this, name, "a duration"); }

namespace {

const OptionSpec* find_option(const std::vector<OptionSpec>& options, std::string_view name) {
    for (const OptionSpec& o : options)
        if (o.name == name) return &o;
    return nullptr;
}

[[noreturn]] void no_such_option(std::string_view type, const std::vector<OptionSpec>& options, std::string_view name) {
    std::vector<std::string> names;
    for (const OptionSpec& o : options) names.push_back(o.name);
    const std::string hint = detail::did_you_mean(name, names);
    if (names.empty()) names.push_back("(none)");
    throw ConfigError(
        fmt::format("'{}' has no option '{}'{}; its options are: {}", type, name, hint, fmt::join(names, ", ")));
}

}  // namespace

OptionValues complete_options(std::string_view type, const std::vector<OptionSpec>& options, OptionValues given) {
    for (const auto& [name, value] : given.all())
        if (find_option(options, name) == nullptr) no_such_option(type, options, name);
    for (const OptionSpec& o : options) {
        if (given.has(o.name)) continue;
        if (o.required) throw ConfigError(fmt::format("'{}' needs option '{}': {}", type, o.name, o.help));
        if (!o.default_value.empty()) given.set(o.name, parse_value(o, o.default_value));
    }
    return given;
}

OptionValues check_options(std::string_view type, const std::vector<OptionSpec>& options,
                           const std::map<std::string, std::string>& given) {
    OptionValues out;
    for (const auto& [name, value] : given) {
        const OptionSpec* o = find_option(options, name);
        if (o == nullptr) no_such_option(type, options, name);
        out.set(name, parse_value(*o, value));
    }
    return complete_options(type, options, std::move(out));
}

OptionValues check_options(const StageSpec& spec, const std::map<std::string, std::string>& given) {
    return check_options(spec.type, spec.options, given);
}

std::unique_ptr<Stage> make_stage(std::string_view type, const OptionValues& options, std::string name) {
    const StageSpec* spec = find_stage_spec(type);
    if (spec == nullptr) throw ConfigError(detail::unknown_stage_type(type));
    const OptionValues values = complete_options(spec->type, spec->options, options);
    std::unique_ptr<Stage> stage = spec->make(name.empty() ? spec->type : name, values);
    const StageTraits& made = stage->traits();
    const StageTraits& said = spec->traits;
    if (made.parallel != said.parallel || made.needs_ordered_input != said.needs_ordered_input ||
        made.blocking_io != said.blocking_io)
        throw std::logic_error(fmt::format(
            "stage type '{}' is declared {}{} but its class makes a stage that is {}{}: make the declaration say what "
            "the class does",
            spec->type, runs_on(said), said.needs_ordered_input ? ", ordered input" : "", runs_on(made),
            made.needs_ordered_input ? ", ordered input" : ""));
    return stage;
}

std::unique_ptr<Stage> make_stage(std::string_view type, const std::map<std::string, std::string>& options,
                                  std::string name) {
    const StageSpec* spec = find_stage_spec(type);
    if (spec == nullptr) throw ConfigError(detail::unknown_stage_type(type));
    return make_stage(type, check_options(*spec, options), std::move(name));
}

std::string runs_on(const StageTraits& traits) {
    std::string text = traits.parallel ? "parallel" : "serial";
    if (traits.blocking_io) text += traits.parallel ? ", dedicated threads" : ", dedicated thread";
    return text;
}

}  // namespace framepipe
