#include "config/command_line.hpp"
#include "engine/packet_branches.hpp"
#include "registry/suggest.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <unordered_set>

namespace framepipe {
namespace {

using detail::did_you_mean;

// A pipeline file is a short text; reading stops past this, so a device or a huge file named by mistake cannot fill
// memory.
constexpr std::size_t kMaxFileBytes = std::size_t{1} << 20;

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

std::string located(const std::string& path, int line, const std::string& message) {
    return line > 0 ? fmt::format("{}:{}: {}", path, line, message) : fmt::format("{}: {}", path, message);
}

[[noreturn]] void fail_at(const std::string& path, int line, const std::string& message) {
    throw ConfigError(located(path, line, message));
}

// Every problem found in a pipeline file and its settings, each once, those of the file in the order of its lines and
// then the others. Checks that do not depend on each other all run, so one attempt shows everything there is to fix.
class Problems {
public:
    explicit Problems(std::string path) : path_(std::move(path)) {}
    /// Runs `check` and records the ConfigError it throws. Returns whether it passed.
    template <class Check>
    bool check(Check&& check) {
        try {
            check();
            return true;
        } catch (const ConfigError& e) {
            add(e.what());
            return false;
        }
    }
    void add(const std::string& message) {
        if (seen_.insert(message).second) list_.push_back(message);
    }
    [[nodiscard]] std::size_t count() const { return list_.size(); }
    /// One ConfigError with every problem, one per line.
    void throw_if_any() {
        if (list_.empty()) return;
        std::stable_sort(list_.begin(), list_.end(),
                         [&](const std::string& a, const std::string& b) { return line_in(a) < line_in(b); });
        throw ConfigError(fmt::format("{}", fmt::join(list_, "\n")));
    }

private:
    // The line a "PATH:LINE: ..." message is about; past every line for others.
    [[nodiscard]] long line_in(const std::string& message) const {
        if (message.size() <= path_.size() || message.compare(0, path_.size(), path_) != 0 || message[path_.size()] != ':')
            return std::numeric_limits<long>::max();
        const char* digits = message.c_str() + path_.size() + 1;
        char* end = nullptr;
        const long line = std::strtol(digits, &end, 10);
        return end != digits && *end == ':' ? line : std::numeric_limits<long>::max();
    }

    std::string path_;
    std::vector<std::string> list_;
    std::unordered_set<std::string> seen_;  // what list_ holds: a 1 MiB file can have 100000 problems
};

// The file being read: its name for messages, its text (to read plain nulls as written) and what is wrong with it.
struct Document {
    const std::string& path;
    const std::string& text;
    Problems problems{path};

    void add(int line, const std::string& message) { problems.add(located(path, line, message)); }
};

struct Entry {
    std::string key;
    YAML::Node value;
    int line;  // the key's
};

// yaml-cpp reads a plain null, Null, NULL or ~ as "no value", as it does an empty value. Every value in a pipeline file
// is text (a stage type, a name, an option), so such a word is read as written: { type: null } is the null stage.
// nullopt for an empty value.
std::optional<std::string> written_null(const Document& doc, const YAML::Node& node) {
    const int pos = node.Mark().pos;
    if (pos < 0 || static_cast<std::size_t>(pos) >= doc.text.size()) return std::nullopt;
    const std::string_view rest = std::string_view(doc.text).substr(static_cast<std::size_t>(pos));
    for (const std::string_view word : {"null", "Null", "NULL", "~"}) {
        if (rest.substr(0, word.size()) != word) continue;
        if (rest.size() == word.size() || std::string_view(" \t\r\n,]}#").find(rest[word.size()]) != std::string_view::npos)
            return std::string(word);
    }
    return std::nullopt;
}

// A map's entries in the order written. A key given twice is a problem (yaml-cpp keeps both and a lookup finds one);
// the later one is left out. `where` names the map in messages ("" for the file itself).
std::vector<Entry> entries(Document& doc, const YAML::Node& map, const std::string& where) {
    const std::string prefix = where.empty() ? "" : where + ": ";
    std::vector<Entry> out;
    std::map<std::string, int> seen;
    for (const auto& item : map) {
        const int line = line_of(item.first);
        std::optional<std::string> key;
        if (item.first.IsScalar()) key = item.first.Scalar();
        else if (item.first.IsNull()) key = written_null(doc, item.first);
        if (!key) {
            doc.add(line, prefix + "a key must be a name, not a list, a map or nothing");
            continue;
        }
        const auto [first, inserted] = seen.emplace(*key, line);
        if (!inserted) {
            doc.add(line, fmt::format("{}'{}' is given twice (first on line {}); keep one", prefix, *key, first->second));
            continue;
        }
        out.push_back({*key, item.second, line});
    }
    return out;
}

// A value that must be one piece of text.
std::string scalar(const Document& doc, const Entry& entry) {
    if (entry.value.IsScalar()) return entry.value.Scalar();
    if (entry.value.IsNull()) {
        if (std::optional<std::string> word = written_null(doc, entry.value)) return *word;
        fail_at(doc.path, entry.line,
                fmt::format("'{}' has no value; write one after '{}:' or leave the key out", entry.key, entry.key));
    }
    fail_at(doc.path, entry.line, fmt::format("'{}' must be a single value, not a list or a map", entry.key));
}

// ---- sources ------------------------------------------------------------------------------------------------------

// "auto, video, images or synthetic": what `type:` takes under `source:`.
std::string source_type_choices() {
    std::vector<std::string> types = {"auto"};
    for (const SourceSpec& spec : source_catalog()) types.push_back(spec.type);
    const std::string last = types.back();
    types.pop_back();
    return fmt::format("{} or {}", fmt::join(types, ", "), last);
}

const SourceSpec& source_spec(const std::string& type) {
    if (const SourceSpec* spec = find_source_spec(type)) return *spec;
    throw ConfigError(fmt::format("unknown source type '{}'; use {}", type, source_type_choices()));
}

// The type that claims the input most strongly (ties: the first listed); a forced type must not refuse it.
std::string source_type_for(const std::string& input, const std::string& forced) {
    if (forced != "auto") {
        const SourceSpec& spec = source_spec(forced);
        if (spec.refuses) spec.refuses(input);
        return forced;
    }
    const SourceSpec* best = nullptr;
    int strongest = 0;
    for (const SourceSpec& spec : source_catalog()) {
        const int claim = spec.claims(input);
        if (claim > strongest) best = &spec, strongest = claim;
    }
    if (best == nullptr)
        throw ConfigError(fmt::format("no source type reads '{}'; give a file, folder, URL, camera:N or synthetic",
                                      VideoSource::redacted(input)));
    return best->type;
}

// The options of `options` that belong to source type `type` (others may belong to another type in a mixed run).
OptionValues options_for(const std::string& type, const std::map<std::string, std::string>& options) {
    const SourceSpec& spec = source_spec(type);
    std::map<std::string, std::string> mine;
    for (const auto& [name, value] : options)
        if (std::any_of(spec.options.begin(), spec.options.end(),
                        [&name = name](const OptionSpec& o) { return o.name == name; }))
            mine[name] = value;
    return check_options(spec.type, spec.options, mine);
}

std::map<std::string, std::string> merged_options(const InputEntry& input, const std::map<std::string, std::string>& file) {
    std::map<std::string, std::string> options = file;
    for (const auto& [key, value] : input.options) options[key] = value;  // the input's own win
    return options;
}

// ---- parsing ------------------------------------------------------------------------------------------------------

// One field of an edge. Throws ConfigError "WHERE: ..." without a location; callers add it.
void set_edge_field(EdgeOptions& edge, const std::string& key, const std::string& text, const std::string& where) {
    if (key == "capacity") {
        try {
            const long long capacity = std::stoll(text);
            if (capacity < 1 || capacity > 100000 || std::to_string(capacity) != text) throw std::out_of_range("");
            edge.capacity = static_cast<std::size_t>(capacity);
        } catch (...) {
            throw ConfigError(fmt::format("{}: capacity must be a whole number from 1 to 100000, got '{}'", where, text));
        }
    } else if (key == "overflow") {
        edge.overflow = parse_overflow(text);
        if (!edge.overflow)
            throw ConfigError(
                fmt::format("{}: overflow must be {}, got '{}'", where, overflow_names(), text));
    } else if (key == "max_age") {
        try {
            edge.max_age = parse_duration(text);
        } catch (const ConfigError&) {
            throw ConfigError(fmt::format("{}: max_age must be a duration such as 200ms, got '{}'", where, text));
        }
    } else {
        throw ConfigError(fmt::format("{} has no key '{}'{}; keys are capacity, overflow, max_age", where, key,
                                      did_you_mean(key, {"capacity", "overflow", "max_age"})));
    }
}

EdgeOptions parse_edge(Document& doc, const Entry& at, const std::string& where) {
    EdgeOptions edge;
    if (!at.value.IsMap()) {
        doc.add(at.line, fmt::format("{} must be a map, e.g. {{ capacity: 4 }}", where));
        return edge;
    }
    for (const Entry& e : entries(doc, at.value, where)) {
        doc.problems.check([&] {
            const std::string text = scalar(doc, e);
            try {
                set_edge_field(edge, e.key, text, where);
            } catch (const ConfigError& error) {
                fail_at(doc.path, e.line, error.what());
            }
        });
    }
    return edge;
}

// One option of a stage type, parsed into its typed value. Throws ConfigError for an unknown name or a bad value.
OptionValue parse_stage_option(const StageSpec& spec, const std::string& name, const std::string& text) {
    for (const OptionSpec& o : spec.options)
        if (o.name == name) return parse_option(o, text);
    (void)check_options(spec, {{name, text}});  // throws: no such option, with the ones there are
    throw ConfigError(fmt::format("'{}' has no option '{}'", spec.type, name));
}

// One stage. Every option is checked on its own, so each bad one is reported at its line. Returns false when anything
// was wrong (the stage is then not made). `where` names it in messages ("stage 3"); `implied_type` is the type of a
// stage written under a key of its own (`mqtt:`), which then has no 'type:'.
bool parse_stage(Document& doc, const YAML::Node& node, const std::string& where, StageEntry& entry,
                 const std::string& implied_type = {}) {
    entry.line = line_of(node);
    if (!node.IsMap()) {
        doc.add(entry.line, where + " must be a map such as { type: blur, ksize: 5 }");
        return false;
    }
    const std::size_t before = doc.problems.count();
    int type_line = 0;
    if (!implied_type.empty()) {
        entry.type = implied_type;
        type_line = entry.line;
    }
    std::map<std::string, std::string> written;  // options as written, parsed once the type is known
    for (const Entry& e : entries(doc, node, where)) {
        doc.problems.check([&] {
            if (e.key == "type" && !implied_type.empty()) {
                fail_at(doc.path, e.line, fmt::format("'{}' takes the {} stage's options and no 'type'", where,
                                                      implied_type));
            } else if (e.key == "type") {
                type_line = e.line;
                entry.type = scalar(doc, e);
            } else if (e.key == "name") {
                entry.name = scalar(doc, e);
            } else if (e.key == "edge") {
                entry.edge = parse_edge(doc, e, "edge");
            } else if (e.key == "from") {
                entry.from = scalar(doc, e);
                entry.from_line = e.line;
            } else {
                entry.option_lines[e.key] = e.line;
                written[e.key] = scalar(doc, e);
            }
        });
    }
    const StageSpec* spec = entry.type.empty() ? nullptr : find_stage_spec(entry.type);
    if (type_line == 0)
        doc.add(entry.line, fmt::format("{} has no 'type'", where));
    else if (spec == nullptr && !entry.type.empty())
        doc.add(type_line, detail::unknown_stage_type(entry.type));
    if (entry.name.empty()) entry.name = entry.type;
    if (spec != nullptr) {
        for (const auto& [name, value] : written) {
            try {
                entry.options.set(name, parse_stage_option(*spec, name, value));
            } catch (const ConfigError& e) {
                doc.add(entry.option_lines[name], fmt::format("stage '{}': {}", entry.name, e.what()));
            }
        }
    }
    return doc.problems.count() == before;
}

}  // namespace

namespace {

// One source option: it must belong to some source type and be valid for at least one type that has it (before the
// inputs are known, types may disagree: synthetic's frames takes 0, a plugin's may not); the source made for an input
// checks it again against its own type. Throws ConfigError "PATH[:LINE]: ...".
void check_source_option(const std::string& path, int line, const std::string& name, const std::string& value) {
    if (name == "type") {
        if (value != "auto" && find_source_spec(value) == nullptr)
            fail_at(path, line, fmt::format("source type must be {}, got '{}'", source_type_choices(), value));
        return;
    }
    bool known = false, accepted = false;
    std::vector<std::string> all, refusals;
    for (const SourceSpec& spec : source_catalog())
        for (const OptionSpec& o : spec.options) {
            all.push_back(o.name);
            if (o.name != name) continue;
            known = true;
            try {
                (void)parse_option(o, value);
                accepted = true;
            } catch (const ConfigError& e) {
                refusals.push_back(fmt::format("source ({}): {}", spec.type, e.what()));
            }
        }
    if (known && !accepted) fail_at(path, line, fmt::format("{}", fmt::join(refusals, "; ")));
    if (!known)
        fail_at(path, line, fmt::format("no source has an option '{}'{}; see 'framepipe stages'", name,
                                        did_you_mean(name, all)));
}

// An input's name goes into file names, stream names and metrics labels: letters, digits, '_' and '-' only.
bool is_plain_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '_' || c == '-';
    });
}

// An input: a path, or { path: ..., name: ..., <source options> }. nullopt when it is unusable (the problem is recorded).
std::optional<InputEntry> parse_input_entry(Document& doc, const Entry& at, const YAML::Node& node) {
    const int line = node.IsNull() ? at.line : line_of(node);
    if (node.IsScalar() || node.IsNull()) {
        InputEntry input{"", "", {}, line};
        if (!doc.problems.check([&] { input.path = scalar(doc, {at.key, node, line}); })) return std::nullopt;
        return input;
    }
    if (!node.IsMap()) {
        doc.add(line, "an input is a path or URL, or a map such as { path: rtsp://cam/main, name: gate }");
        return std::nullopt;
    }
    InputEntry input;
    input.line = line;
    const std::size_t before = doc.problems.count();
    for (const Entry& e : entries(doc, node, "input")) {
        doc.problems.check([&] {
            const std::string text = scalar(doc, e);
            if (e.key == "path") {
                input.path = text;
            } else if (e.key == "sub") {
                input.sub = text;
            } else if (e.key == "name") {
                if (!is_plain_name(text))
                    fail_at(doc.path, e.line,
                            fmt::format("input name '{}': use letters, digits, '_' and '-' (it names files)", text));
                input.name = text;
            } else {
                check_source_option(doc.path, e.line, e.key, text);
                input.options[e.key] = text;
            }
        });
    }
    if (input.path.empty()) doc.add(line, "this input has no 'path:' (a file, folder, URL, camera:N or synthetic)");
    if (!input.sub.empty() && input.name.empty())
        doc.add(line, "an input with a 'sub:' stream needs a 'name:' (the camera's, which its events and files carry)");
    if (doc.problems.count() != before) return std::nullopt;
    return input;
}

std::size_t parse_threads(const std::string& text) {
    try {
        const long long n = std::stoll(text);
        if (n < 0 || n > 256 || std::to_string(n) != text) throw std::out_of_range("");
        return static_cast<std::size_t>(n);
    } catch (...) {
        throw ConfigError(fmt::format("threads must be a whole number from 0 (one per CPU) to 256, got '{}'", text));
    }
}

// `plugins: [lib.so, ...]` (or one path): each loaded now (load_plugin), relative paths from the file's folder.
void load_plugins(Document& doc, const Entry& at, PipelineFile& file) {
    std::vector<std::pair<YAML::Node, int>> paths;
    if (at.value.IsSequence())
        for (const YAML::Node& node : at.value) paths.emplace_back(node, line_of(node));
    else
        paths.emplace_back(at.value, at.line);
    for (const auto& [node, line] : paths) {
        doc.problems.check([&, &node = node, line = line] {
            const std::string text = scalar(doc, {at.key, node, line});
            std::filesystem::path path(text);
            if (path.is_relative()) path = std::filesystem::path(doc.path).parent_path() / path;
            try {
                load_plugin(path.lexically_normal().string());
            } catch (const ConfigError& e) {
                fail_at(doc.path, line, e.what());
            }
            file.plugins.push_back(path.lexically_normal().string());
        });
    }
}

// The file's structure and every value on its own; `stage_ok[i]` says whether stage i can be made. Problems are
// recorded in `doc`; text that is not YAML, or not a map, is thrown at once (nothing else can be checked then).
// Stage names must be unique in a list: they name the stages in reports and in --set; `from:` names one above.
void check_stage_list(Document& doc, const std::vector<StageEntry>& stages) {
    std::set<std::string> names;
    for (const StageEntry& entry : stages) {
        if (!entry.from.empty() && entry.from != kFromSource && entry.from != kFromPackets &&
            names.count(entry.from) == 0)
            doc.add(entry.from_line,
                    names.count(entry.name) == 0 &&
                            std::any_of(stages.begin(), stages.end(),
                                        [&](const StageEntry& other) { return other.name == entry.from; })
                        ? fmt::format("stage '{}' takes frames from '{}', which comes after it (or is itself): a stage "
                                      "takes frames only from a stage above it",
                                      entry.name, entry.from)
                        : fmt::format("stage '{}' takes frames from '{}', but no stage above it has that name; name one "
                                      "of {}, {}{}",
                                      entry.name, entry.from, kFromSource, kFromPackets,
                                      names.empty() ? std::string() : fmt::format(", {}", fmt::join(names, ", "))));
        if (entry.name == kFromSource || entry.name == kFromPackets)
            doc.add(entry.line, fmt::format("a stage is named '{}', which `from:` reserves for the source's frames: "
                                            "give it another name",
                                            entry.name));
        if (!entry.name.empty() && !names.insert(entry.name).second)
            doc.add(entry.line, fmt::format("two stages are named '{}'; give one a 'name:'", entry.name));
    }
}

// Per stage name, whether its frames come (through `from:`) from the input's packets rather than its pictures.
std::map<std::string, bool> packet_stages(const std::vector<StageEntry>& stages) {
    std::vector<detail::StageOrigin> origins;
    for (const StageEntry& entry : stages) origins.push_back({entry.name, entry.from});
    const std::vector<bool> packets = detail::takes_packets(origins);
    std::map<std::string, bool> by_name;
    for (std::size_t i = 0; i < stages.size(); ++i) by_name[stages[i].name] = packets[i];
    return by_name;
}

// `join:`, checked once the input chains' stages are known (its `from` names one of them).
JoinEntry parse_join(Document& doc, const Entry& at, const std::vector<StageEntry>& input_stages,
                     std::vector<bool>& stage_ok) {
    JoinEntry join;
    join.line = at.line;
    if (!at.value.IsMap())
        fail_at(doc.path, at.line, "'join' must be a map such as { name: wall, fps: 10, stages: [ { type: mosaic } ] }");
    static const std::vector<std::string> keys = {"name", "from", "policy", "fps", "stages"};
    int from_line = at.line;
    bool has_stages = false;
    for (const Entry& e : entries(doc, at.value, "join")) {
        doc.problems.check([&] {
            if (e.key == "name") {
                join.name = scalar(doc, e);
                if (!is_plain_name(join.name))
                    fail_at(doc.path, e.line, fmt::format("join: name '{}' must be a plain name (letters, digits, "
                                                          "'-', '_', '.')",
                                                          join.name));
            } else if (e.key == "from") {
                join.from = scalar(doc, e);
                from_line = e.line;
            } else if (e.key == "policy") {
                const std::string text = scalar(doc, e);
                if (text == "latest") join.policy = JoinPolicy::latest;
                else if (text == "timestamp") join.policy = JoinPolicy::timestamp;
                else
                    fail_at(doc.path, e.line, fmt::format("join: policy must be latest (the newest picture of each "
                                                          "input, for live inputs) or timestamp (pictures matched by "
                                                          "media time, for files), got '{}'",
                                                          text));
            } else if (e.key == "fps") {
                const std::string text = scalar(doc, e);
                char* end = nullptr;
                join.fps = std::strtod(text.c_str(), &end);
                if (end == text.c_str() || *end != '\0' || !(join.fps > 0 && join.fps <= 1000))
                    fail_at(doc.path, e.line,
                            fmt::format("join: fps must be a number more than 0 and at most 1000, got '{}'", text));
            } else if (e.key == "stages") {
                has_stages = true;
                if (!e.value.IsSequence() || e.value.size() == 0)
                    fail_at(doc.path, e.line, "join: 'stages' must be a list with at least one stage, e.g. [ { type: "
                                              "mosaic }, { type: live_view } ]");
                for (std::size_t i = 0; i < e.value.size(); ++i) {
                    StageEntry entry;
                    stage_ok.push_back(parse_stage(doc, e.value[i], fmt::format("stage {}", i + 1), entry));
                    join.stages.push_back(std::move(entry));
                }
            } else {
                fail_at(doc.path, e.line, fmt::format("join: unknown key '{}'{}; a join has: {}", e.key,
                                                      did_you_mean(e.key, keys), fmt::join(keys, ", ")));
            }
        });
    }
    if (!has_stages) doc.add(at.line, "join: no 'stages:' list; a join needs at least one stage (e.g. mosaic)");
    const std::map<std::string, bool> takes_packets = packet_stages(input_stages);
    if (join.from != kFromSource && takes_packets.count(join.from) == 0)
        doc.add(from_line, fmt::format("join: from '{}' names no stage of 'stages:'; name one of them or '{}'",
                                       join.from, kFromSource));
    else if (join.from != kFromSource && takes_packets.at(join.from))
        doc.add(from_line, fmt::format("join: from '{}' names a stage on the input's packets; a join takes pictures: "
                                       "name '{}' or a stage on them",
                                       join.from, kFromSource));
    check_stage_list(doc, join.stages);
    for (const StageEntry& entry : join.stages)
        if (std::any_of(input_stages.begin(), input_stages.end(),
                        [&](const StageEntry& other) { return other.name == entry.name; }))
            doc.add(entry.line, fmt::format("join: a stage of 'stages:' is named '{}' too; give this one another "
                                            "'name:' (names tell stages apart in reports and --set)",
                                            entry.name));
    return join;
}

// `mqtt:`: the mqtt stage's options, for every input's chain. The stage is added as a branch from the first `motion`
// stage (to publish its events), or, when there is none (availability, signal and statistics only), from the packets
// if every stage takes packets and else from the source; unless `from:` says where.
void add_mqtt(Document& doc, const Entry& at, PipelineFile& file, std::vector<bool>& stage_ok) {
    if (!at.value.IsMap())
        fail_at(doc.path, at.line, "'mqtt' must be a map of the mqtt stage's options, e.g. { broker: "
                                   "\"mqtt://127.0.0.1:1883\", topic_prefix: frigate }");
    for (const StageEntry& stage : file.stages)
        if (stage.type == "mqtt")
            fail_at(doc.path, at.line, fmt::format("'mqtt:' and the stage '{}' (line {}) would both publish on MQTT; "
                                                   "keep one",
                                                   stage.name, stage.line));
    StageEntry entry;
    stage_ok.push_back(parse_stage(doc, at.value, "mqtt", entry, "mqtt"));
    entry.line = at.line;
    if (entry.from.empty()) {
        const auto motion = std::find_if(file.stages.begin(), file.stages.end(),
                                         [](const StageEntry& stage) { return stage.type == "motion"; });
        // Without motion, the stage only keeps the camera's connection: it takes packets when every other stage does
        // (recording by copy), so that it does not make the input decode pictures nobody needs.
        const std::map<std::string, bool> on_packets = packet_stages(file.stages);
        const bool all_packets = !on_packets.empty() && std::all_of(on_packets.begin(), on_packets.end(),
                                                                    [](const auto& stage) { return stage.second; });
        entry.from = motion != file.stages.end() ? motion->name
                     : all_packets                ? std::string(kFromPackets)
                                                  : std::string(kFromSource);
        entry.from_line = at.line;
    }
    file.stages.push_back(std::move(entry));
}

PipelineFile parse(Document& doc, std::vector<bool>& stage_ok) {
    YAML::Node root;
    try {
        root = YAML::Load(doc.text);
    } catch (const YAML::Exception& e) {
        fail_at(doc.path, e.mark.line + 1, fmt::format("not valid YAML: {}", e.msg));
    }
    if (!root.IsMap()) fail_at(doc.path, 0, "a pipeline file is a map with at least 'stages:'");
    PipelineFile file;
    file.path = doc.path;
    // Plugins first: the stage and source types they declare may be used anywhere in the file.
    for (const auto& item : root)
        if (item.first.IsScalar() && item.first.Scalar() == "plugins")
            load_plugins(doc, {item.first.Scalar(), item.second, line_of(item.first)}, file);
    static const std::vector<std::string> keys = {"stages",  "inputs",        "source",          "edges",
                                                  "threads", "drain_timeout", "profile_spacing", "plugins",
                                                  "join",    "mqtt",          "description"};
    bool has_stages = false;
    std::optional<Entry> join_at, mqtt_at;
    for (const Entry& e : entries(doc, root, "")) {
        doc.problems.check([&] {
            const YAML::Node& value = e.value;
            if (e.key == "stages") {
                has_stages = true;
                if (!value.IsSequence() || value.size() == 0)
                    fail_at(doc.path, e.line, "'stages' must be a list with at least one stage");
                for (std::size_t i = 0; i < value.size(); ++i) {
                    StageEntry entry;
                    stage_ok.push_back(parse_stage(doc, value[i], fmt::format("stage {}", i + 1), entry));
                    file.stages.push_back(std::move(entry));
                }
            } else if (e.key == "inputs") {
                if (value.IsSequence()) {
                    for (const YAML::Node& input : value)
                        if (std::optional<InputEntry> entry = parse_input_entry(doc, e, input)) file.inputs.push_back(*entry);
                } else if (value.IsScalar() || value.IsNull()) {
                    if (std::optional<InputEntry> entry = parse_input_entry(doc, e, value)) file.inputs.push_back(*entry);
                } else {
                    fail_at(doc.path, e.line, "'inputs' must be a file name or a list of them");
                }
            } else if (e.key == "source") {
                if (!value.IsMap())
                    fail_at(doc.path, e.line, "'source' must be a map of source options, e.g. { realtime: true }");
                for (const Entry& option : entries(doc, value, "source")) {
                    doc.problems.check([&] {
                        const std::string text = scalar(doc, option);
                        check_source_option(doc.path, option.line, option.key, text);
                        file.source[option.key] = text;
                        file.source_lines[option.key] = option.line;
                    });
                }
            } else if (e.key == "edges") {
                file.edges = parse_edge(doc, e, "edges");
            } else if (e.key == "threads") {
                try {
                    file.threads = parse_threads(scalar(doc, e));
                } catch (const ConfigError& error) {
                    fail_at(doc.path, e.line, error.what());
                }
            } else if (e.key == "drain_timeout" || e.key == "profile_spacing") {
                const bool drain = e.key == "drain_timeout";
                const std::string text = scalar(doc, e);
                try {
                    (drain ? file.drain_timeout : file.profile_spacing) = parse_duration(text);
                } catch (const ConfigError&) {
                    fail_at(doc.path, e.line,
                            fmt::format("{} must be a duration such as {}, got '{}'", e.key,
                                        drain ? "10s" : "2us, or 0 to time every frame", text));
                }
            } else if (e.key == "join") {
                join_at = e;
            } else if (e.key == "mqtt") {
                mqtt_at = e;
            } else if (e.key != "description" && e.key != "plugins") {
                fail_at(doc.path, e.line, fmt::format("unknown key '{}'{}; a pipeline file has: {}", e.key,
                                                      did_you_mean(e.key, keys), fmt::join(keys, ", ")));
            }
        });
    }
    if (!has_stages) doc.add(0, "no 'stages:' list; a pipeline needs at least one stage");
    if (mqtt_at && has_stages) doc.problems.check([&] { add_mqtt(doc, *mqtt_at, file, stage_ok); });
    check_stage_list(doc, file.stages);
    if (join_at) doc.problems.check([&] { file.join = parse_join(doc, *join_at, file.stages, stage_ok); });
    return file;
}

// Makes every stage that parsed cleanly (without opening it): option combinations a stage rejects, at its line.
void make_stages(Problems& problems, const PipelineFile& file, const std::vector<bool>& stage_ok) {
    std::vector<const StageEntry*> all;
    for (const StageEntry& entry : file.stages) all.push_back(&entry);
    if (file.join)
        for (const StageEntry& entry : file.join->stages) all.push_back(&entry);
    for (std::size_t i = 0; i < all.size() && i < stage_ok.size(); ++i) {
        if (!stage_ok[i]) continue;
        const StageEntry& entry = *all[i];
        problems.check([&] {
            try {
                (void)make_stage(entry.type, entry.options, entry.name);
            } catch (const ConfigError& e) {
                fail_at(file.path, entry.line, fmt::format("stage '{}': {}", entry.name, e.what()));
            }
        });
    }
}

std::string read_pipeline_text(const std::string& path) {
    std::error_code ec;
    const std::filesystem::file_status status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status))
        throw ConfigError(fmt::format("cannot read the pipeline file '{}': no such file; check the path", path));
    if (!std::filesystem::is_regular_file(status))
        throw ConfigError(fmt::format("'{}' is not a regular file; a pipeline file is a YAML file such as "
                                      "pipelines/thumbnails.yaml",
                                      path));
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("cannot read the pipeline file '{}': {}", path, std::strerror(errno)));
    std::string text(kMaxFileBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes)
        throw ConfigError(fmt::format("'{}' is larger than 1 MiB; a pipeline file is a short YAML text", path));
    return text;
}

}  // namespace

InputEntry parse_input(const std::string& argument) {
    const auto equals = argument.find('=');
    std::error_code ec;
    if (equals == std::string::npos || equals == 0 || std::filesystem::exists(argument, ec)) return {argument, "", {}, 0};
    const std::string name = argument.substr(0, equals);
    if (!is_plain_name(name)) return {argument, "", {}, 0};
    return {argument.substr(equals + 1), name, {}, 0};
}

PipelineFile parse_pipeline(const std::string& text, const std::string& path, const std::vector<std::string>& settings) {
    Document doc{path, text};
    std::vector<bool> stage_ok;
    PipelineFile file = parse(doc, stage_ok);
    for (const std::string& setting : settings) doc.problems.check([&] { apply_setting(file, setting); });
    make_stages(doc.problems, file, stage_ok);
    doc.problems.throw_if_any();
    return file;
}

PipelineFile load_pipeline_file(const std::string& path, const std::vector<std::string>& settings) {
    return parse_pipeline(read_pipeline_text(path), path, settings);
}

void apply_setting(PipelineFile& file, const std::string& assignment) {
    const std::size_t equals = assignment.find('=');
    if (equals == std::string::npos || equals == 0)
        throw ConfigError(fmt::format("--set '{}': write KEY=VALUE, e.g. --set blur.ksize=7", assignment));
    const std::string key = assignment.substr(0, equals);
    const std::string value = assignment.substr(equals + 1);
    const std::string label = "--set " + key;
    const std::size_t dot = key.find('.');
    const std::string head = key.substr(0, dot);
    const std::string rest = dot == std::string::npos ? "" : key.substr(dot + 1);
    const auto set_edge = [&](EdgeOptions& edge, const std::string& field, const std::string& where) {
        try {
            set_edge_field(edge, field, value, where);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: {}", label, e.what()));
        }
    };
    if (head == "threads" && rest.empty()) {
        try {
            file.threads = parse_threads(value);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: {}", label, e.what()));
        }
        return;
    }
    if ((head == "drain_timeout" || head == "profile_spacing") && rest.empty()) {
        try {
            (head == "drain_timeout" ? file.drain_timeout : file.profile_spacing) = parse_duration(value);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: {}", label, e.what()));
        }
        return;
    }
    if (head == "edges") return set_edge(file.edges, rest, "edges");
    if (head == "source") {
        if (rest.empty()) throw ConfigError("--set source.OPTION=VALUE: name the option");
        check_source_option(label, 0, rest, value);
        file.source[rest] = value;
        return;
    }
    // A stage, by name, or by type when only one stage has it.
    StageEntry* target = nullptr;
    std::vector<StageEntry*> stages;  // the inputs' and the join's
    for (StageEntry& entry : file.stages) stages.push_back(&entry);
    if (file.join)
        for (StageEntry& entry : file.join->stages) stages.push_back(&entry);
    for (StageEntry* entry : stages)
        if (entry->name == head) target = entry;
    if (target == nullptr) {
        int matches = 0;
        for (StageEntry* entry : stages)
            if (entry->type == head) target = entry, ++matches;
        if (matches > 1) throw ConfigError(fmt::format("{}: several stages have type '{}'; use a stage's name", label, head));
    }
    if (target == nullptr) {
        std::vector<std::string> names;
        for (const StageEntry* entry : stages) names.push_back(entry->name);
        throw ConfigError(
            fmt::format("{}: no stage named '{}'{}; stages are: {} (or use source., edges., threads, "
                        "drain_timeout, profile_spacing)",
                        label, head, did_you_mean(head, names), fmt::join(names, ", ")));
    }
    if (rest.empty()) throw ConfigError(fmt::format("{}: name the option, e.g. {}.OPTION=VALUE", label, head));
    if (rest.rfind("edge.", 0) == 0) return set_edge(target->edge, rest.substr(5), "edge");
    const StageSpec* spec = find_stage_spec(target->type);
    if (spec == nullptr) throw ConfigError(fmt::format("{}: {}", label, detail::unknown_stage_type(target->type)));
    try {
        target->options.set(rest, parse_stage_option(*spec, rest, value));
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", label, e.what()));
    }
    target->option_lines[rest] = 0;
}

void check_stages(const PipelineFile& file) {
    Problems problems(file.path);
    make_stages(problems, file,
                std::vector<bool>(file.stages.size() + (file.join ? file.join->stages.size() : 0), true));
    problems.throw_if_any();
}

std::string source_type_of(const InputEntry& input, const std::map<std::string, std::string>& file_options) {
    const std::map<std::string, std::string> options = merged_options(input, file_options);
    const auto type = options.find("type");
    return source_type_for(input.path, type == options.end() ? "auto" : type->second);
}

std::unique_ptr<Source> make_source(const InputEntry& entry, const std::map<std::string, std::string>& file_options) {
    const std::map<std::string, std::string> options = merged_options(entry, file_options);
    const std::string& input = entry.path;
    const std::string type = source_type_of(entry, file_options);
    const SourceSpec& spec = source_spec(type);
    for (const auto& [key, value] : entry.options) {
        const bool known = key == "type" || std::any_of(spec.options.begin(), spec.options.end(),
                                                        [&key = key](const OptionSpec& o) { return o.name == key; });
        if (!known) {
            std::vector<std::string> names;
            for (const OptionSpec& o : spec.options) names.push_back(o.name);
            throw ConfigError(fmt::format("input '{}' is a {} source, which has no option '{}'; it has: {}",
                                          VideoSource::redacted(input), type, key, fmt::join(names, ", ")));
        }
    }
    return spec.make({input, entry.name}, options_for(type, options));
}

std::unique_ptr<Pipeline> build_pipeline(const PipelineFile& file, const std::vector<std::string>& inputs,
                                         PipelineOptions options) {
    std::vector<InputEntry> chosen = file.inputs;
    if (!inputs.empty()) {
        chosen.clear();
        for (const std::string& argument : inputs) chosen.push_back(parse_input(argument));
    }
    if (chosen.empty())
        throw ConfigError(fmt::format("{}: no inputs: give video files, image folders or 'synthetic' after the "
                                      "pipeline file, or list them under 'inputs:'",
                                      file.path));
    if (file.edges.capacity) options.default_capacity = *file.edges.capacity;
    if (file.threads != 0) options.worker_threads = file.threads;
    if (file.drain_timeout) options.drain_timeout = *file.drain_timeout;
    if (file.profile_spacing) options.profile_spacing = *file.profile_spacing;
    auto pipeline = std::make_unique<Pipeline>(options);
    const auto add_stages = [&](Chain& chain, const std::vector<StageEntry>& stages) {
        for (const StageEntry& entry : stages) {
            std::unique_ptr<Stage> stage;
            try {
                stage = make_stage(entry.type, entry.options, entry.name);
            } catch (const ConfigError& e) {
                fail_at(file.path, entry.line, fmt::format("stage '{}': {}", entry.name, e.what()));
            }
            EdgeOptions edge = entry.edge;
            if (!edge.overflow && file.edges.overflow) edge.overflow = file.edges.overflow;
            if (!edge.max_age && file.edges.max_age) edge.max_age = file.edges.max_age;
            chain.add(std::move(stage), edge, entry.from);
        }
    };
    std::vector<JoinInput> join_inputs;
    const auto source_of = [&](const InputEntry& input) {
        try {
            return make_source(input, file.source);
        } catch (const ConfigError& e) {
            if (input.line == 0) throw;
            fail_at(file.path, input.line, e.what());
        }
    };
    for (const InputEntry& input : chosen) {
        Chain& chain = pipeline->add_source(source_of(input));
        if (input.sub.empty()) {
            add_stages(chain, file.stages);
            if (file.join) join_inputs.push_back({&chain, file.join->from});
            continue;
        }
        // A camera with two streams: the stages on packets take the main stream's, the others the sub stream's
        // pictures, on a chain of its own that shares the camera's board.
        std::vector<StageEntry> on_packets, on_pictures;
        const std::map<std::string, bool> takes_packets = packet_stages(file.stages);
        for (const StageEntry& entry : file.stages)
            (takes_packets.at(entry.name) ? on_packets : on_pictures).push_back(entry);
        const auto refuse = [&](const std::string& why) {
            fail_at(file.path, input.line,
                    fmt::format("input '{}' has a main stream and a 'sub:' stream: {}", input.name, why));
        };
        if (on_packets.empty())
            refuse("its main stream is for the stages that take packets (`from: packets`, e.g. record with codec: copy) "
                   "and no stage does; drop 'sub:' or record the main stream");
        if (on_pictures.empty() && !file.join)  // (a join takes the sub stream's pictures)
            refuse("its sub stream is for the stages that take pictures and no stage does; drop 'sub:'");
        InputEntry sub = input;
        sub.path = input.sub;
        sub.sub.clear();
        Chain& sub_chain = pipeline->add_stream_of(chain, source_of(sub));
        add_stages(chain, on_packets);
        add_stages(sub_chain, on_pictures);
        if (file.join) join_inputs.push_back({&sub_chain, file.join->from});
    }
    if (file.join) {
        const JoinEntry& join = *file.join;
        Chain* joined = nullptr;
        try {
            joined = &pipeline->add_join({.name = join.name, .policy = join.policy, .fps = join.fps}, join_inputs);
        } catch (const ConfigError& e) {
            fail_at(file.path, join.line, e.what());
        }
        add_stages(*joined, join.stages);
    }
    try {
        pipeline->validate();
    } catch (const ConfigError& e) {
        fail_at(file.path, 0, e.what());
    }
    return pipeline;
}

}  // namespace framepipe
