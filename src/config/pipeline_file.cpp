#include "config/suggest.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/sources/image_source.hpp>
#include <framepipe/sources/synthetic_source.hpp>
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

std::vector<StageSpec> make_source_catalog() {
    using K = OptionKind;
    std::vector<StageSpec> sources;
    sources.push_back({"video",
                       "A video file, stream URL (rtsp://, http://, ...) or camera:N, in any container and codec FFmpeg "
                       "reads (the default for files and every URL)",
                       "framepipe run p.yaml clip.mp4 'rtsp://10.0.0.7/cam?channel=1' camera:0",
                       "source thread + decode and convert stages",
                       {{"realtime", K::boolean, "false", "Replay at the file's own rate, as a live camera"},
                        {"decode_threads", K::integer, "1", "libavcodec threads for inter-frame codecs", 1, 16},
                        {"autorotate", K::boolean, "true",
                         "Turn pictures upright as the file's display rotation says (false: keep the coded orientation)"},
                        {"max_pixels", K::integer, "100000000", "Reject pictures with more pixels, undecoded", 1, 1e12},
                        {"open_timeout", K::duration, "10s", "Streams and cameras: give up opening after this", 0.1, 3600},
                        {"read_timeout", K::duration, "5s",
                         "Streams and cameras: no frame for this long = source lost (then reopened)", 0.1, 3600},
                        {"reconnect", K::boolean, "",
                         "Reopen a lost source with exponential backoff (default: on for streams and cameras)"},
                        {"backoff_max", K::duration, "30s", "Longest wait between reopening attempts", 0.1, 3600},
                        {"video_size", K::text, "", "Cameras: size to ask for, e.g. 1280x720"},
                        {"framerate", K::number, "", "Cameras: frame rate to ask for", 1, 1000},
                        {"input_format", K::text, "",
                         "Cameras: pixel format to ask for (mjpeg, yuyv422, ...); default: MJPEG if offered"},
                        {"rtsp_transport", K::choice, "", "RTSP: tcp (default of framepipe) or udp", std::nullopt,
                         std::nullopt, {"tcp", "udp"}}},
                       nullptr});
    sources.push_back({"images", "A folder of images, a glob pattern or image files, in natural order",
                       "framepipe run p.yaml photos/ 'shots/*.png' cover.jpg", "source thread + parallel decode stage",
                       {{"fps", K::number, "0", "Media time per image (1/fps); 0 = one second each", 0, 1000},
                        {"max_pixels", K::integer, "100000000", "Reject images claiming more pixels", 1, 1e12},
                        {"max_file_mb", K::integer, "512", "Reject larger image files unread (MB of 2^20 bytes)", 1,
                         1e6},
                        {"recursive", K::boolean, "false", "Descend into sub-folders"}},
                       nullptr});
    sources.push_back({"synthetic",
                       "A test pattern with the frame number burned in (no camera or file needed); synthetic:NAME "
                       "names one",
                       "framepipe run p.yaml synthetic synthetic:front synthetic:back",
                       "source thread",
                       {{"width", K::integer, "640", "Frame width", 8, 16384},
                        {"height", K::integer, "360", "Frame height", 1, 16384},
                        {"frames", K::integer, "300", "Frames to produce; 0 = until stopped", 0, 1e12},
                        {"fps", K::number, "30", "Frame rate (media time; with live, also real time)", 0, 1000},
                        {"live", K::boolean, "false", "Produce frames at fps like a camera, never waiting"},
                        {"pattern", K::choice, "moving", "moving (picture) or counter (cheapest)", std::nullopt,
                         std::nullopt, {"moving", "counter"}}},
                       nullptr});
    return sources;
}

const StageSpec& source_spec(const std::string& type) {
    for (const StageSpec& spec : source_catalog())
        if (spec.type == type) return spec;
    throw ConfigError(fmt::format("unknown source type '{}'; use auto, video, images or synthetic", type));
}

std::string source_type_for(const std::string& input, const std::string& forced) {
    const bool url = VideoSource::kind_of(input) == VideoSource::Kind::stream;
    if (url && forced == "images")
        throw ConfigError(fmt::format("input '{}' is a URL, but the source type is images (folders, patterns and image "
                                      "files); remove 'type: images' or give a folder",
                                      VideoSource::redacted(input)));
    if (forced != "auto") return forced;
    if (url) return "video";  // whatever its path or query holds ('?', '*', '[', .jpg), a URL is no pattern or folder
    if (input == "synthetic" || input.rfind("synthetic:", 0) == 0) return "synthetic";
    std::error_code ec;
    if (input.ends_with('/') || std::filesystem::is_directory(input, ec) ||
        input.find_first_of("*?[") != std::string::npos || ImageSource::is_image_name(input))
        return "images";
    return "video";
}

// "camera:N" names the V4L2 camera /dev/videoN; anything else is a path or URL as given.
std::string camera_device_for(const std::string& input) {
    if (input.rfind("camera:", 0) != 0) return input;
    const std::string index = input.substr(7);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos)
        throw ConfigError(fmt::format("input '{}': a camera is camera:N (N = 0, 1, ...) or a device path such as "
                                      "/dev/video0; 'framepipe devices' lists them",
                                      input));
    return "/dev/video" + index;
}

// The options of `options` that belong to source type `type` (others may belong to another type in a mixed run).
OptionValues options_for(const std::string& type, const std::map<std::string, std::string>& options) {
    const StageSpec& spec = source_spec(type);
    std::map<std::string, std::string> mine;
    for (const auto& [name, value] : options)
        if (std::any_of(spec.options.begin(), spec.options.end(),
                        [&name = name](const OptionSpec& o) { return o.name == name; }))
            mine[name] = value;
    return check_options(spec, mine);
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

// One stage. Every option is checked on its own, so each bad one is reported at its line. Returns false when anything
// was wrong (the stage is then not made).
bool parse_stage(Document& doc, const YAML::Node& node, std::size_t index, StageEntry& entry) {
    entry.line = line_of(node);
    const std::string where = fmt::format("stage {}", index + 1);
    if (!node.IsMap()) {
        doc.add(entry.line, where + " must be a map such as { type: blur, ksize: 5 }");
        return false;
    }
    const std::size_t before = doc.problems.count();
    int type_line = 0;
    for (const Entry& e : entries(doc, node, where)) {
        doc.problems.check([&] {
            if (e.key == "type") {
                type_line = e.line;
                entry.type = scalar(doc, e);
            } else if (e.key == "name") {
                entry.name = scalar(doc, e);
            } else if (e.key == "edge") {
                entry.edge = parse_edge(doc, e, "edge");
            } else {
                entry.option_lines[e.key] = e.line;
                entry.options[e.key] = scalar(doc, e);
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
        for (const auto& [name, value] : entry.options) {
            try {
                check_options(*spec, {{name, value}});
            } catch (const ConfigError& e) {
                // A missing required option is reported when the stage is made; only this value's problem matters.
                if (std::string(e.what()).find("needs option") == std::string::npos)
                    doc.add(entry.option_lines[name], fmt::format("stage '{}': {}", entry.name, e.what()));
            }
        }
    }
    return doc.problems.count() == before;
}

}  // namespace

const std::vector<StageSpec>& source_catalog() {
    static const std::vector<StageSpec> catalog = make_source_catalog();
    return catalog;
}

namespace {

// One source option: it must belong to some source type, with a valid value. Throws ConfigError "PATH[:LINE]: ...".
void check_source_option(const std::string& path, int line, const std::string& name, const std::string& value) {
    if (name == "type") {
        if (value != "auto" && value != "video" && value != "images" && value != "synthetic")
            fail_at(path, line, fmt::format("source type must be auto, video, images or synthetic, got '{}'", value));
        return;
    }
    bool known = false;
    std::vector<std::string> all;
    for (const StageSpec& spec : source_catalog())
        for (const OptionSpec& o : spec.options) {
            all.push_back(o.name);
            if (o.name != name) continue;
            known = true;
            try {
                check_options(spec, {{name, value}});
            } catch (const ConfigError& e) {
                fail_at(path, line, fmt::format("source ({}): {}", spec.type, e.what()));
            }
        }
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

// The file's structure and every value on its own; `stage_ok[i]` says whether stage i can be made. Problems are
// recorded in `doc`; text that is not YAML, or not a map, is thrown at once (nothing else can be checked then).
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
    static const std::vector<std::string> keys = {"stages", "inputs", "source", "edges", "threads", "drain_timeout",
                                                  "description"};
    bool has_stages = false;
    for (const Entry& e : entries(doc, root, "")) {
        doc.problems.check([&] {
            const YAML::Node& value = e.value;
            if (e.key == "stages") {
                has_stages = true;
                if (!value.IsSequence() || value.size() == 0)
                    fail_at(doc.path, e.line, "'stages' must be a list with at least one stage");
                for (std::size_t i = 0; i < value.size(); ++i) {
                    StageEntry entry;
                    stage_ok.push_back(parse_stage(doc, value[i], i, entry));
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
            } else if (e.key == "drain_timeout") {
                const std::string text = scalar(doc, e);
                try {
                    file.drain_timeout = parse_duration(text);
                } catch (const ConfigError&) {
                    fail_at(doc.path, e.line, fmt::format("drain_timeout must be a duration such as 10s, got '{}'", text));
                }
            } else if (e.key != "description") {
                fail_at(doc.path, e.line, fmt::format("unknown key '{}'{}; a pipeline file has: {}", e.key,
                                                      did_you_mean(e.key, keys), fmt::join(keys, ", ")));
            }
        });
    }
    if (!has_stages) doc.add(0, "no 'stages:' list; a pipeline needs at least one stage");
    // Stage names must be unique: they name the stages in reports and in --set.
    std::set<std::string> names;
    for (const StageEntry& entry : file.stages)
        if (!entry.name.empty() && !names.insert(entry.name).second)
            doc.add(entry.line, fmt::format("two stages are named '{}'; give one a 'name:'", entry.name));
    return file;
}

// Makes every stage that parsed cleanly (without opening it): option combinations a stage rejects, at its line.
void make_stages(Problems& problems, const PipelineFile& file, const std::vector<bool>& stage_ok) {
    for (std::size_t i = 0; i < file.stages.size(); ++i) {
        if (!stage_ok[i]) continue;
        const StageEntry& entry = file.stages[i];
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
    if (head == "edges") return set_edge(file.edges, rest, "edges");
    if (head == "source") {
        if (rest.empty()) throw ConfigError("--set source.OPTION=VALUE: name the option");
        check_source_option(label, 0, rest, value);
        file.source[rest] = value;
        return;
    }
    // A stage, by name, or by type when only one stage has it.
    StageEntry* target = nullptr;
    for (StageEntry& entry : file.stages)
        if (entry.name == head) target = &entry;
    if (target == nullptr) {
        int matches = 0;
        for (StageEntry& entry : file.stages)
            if (entry.type == head) target = &entry, ++matches;
        if (matches > 1) throw ConfigError(fmt::format("{}: several stages have type '{}'; use a stage's name", label, head));
    }
    if (target == nullptr) {
        std::vector<std::string> names;
        for (const StageEntry& entry : file.stages) names.push_back(entry.name);
        throw ConfigError(fmt::format("{}: no stage named '{}'{}; stages are: {} (or use source., edges., threads)",
                                      label, head, did_you_mean(head, names), fmt::join(names, ", ")));
    }
    if (rest.empty()) throw ConfigError(fmt::format("{}: name the option, e.g. {}.OPTION=VALUE", label, head));
    if (rest.rfind("edge.", 0) == 0) return set_edge(target->edge, rest.substr(5), "edge");
    const StageSpec* spec = find_stage_spec(target->type);
    if (spec == nullptr) throw ConfigError(fmt::format("{}: {}", label, detail::unknown_stage_type(target->type)));
    try {
        check_options(*spec, {{rest, value}});
    } catch (const ConfigError& e) {
        if (std::string(e.what()).find("needs option") == std::string::npos)
            throw ConfigError(fmt::format("{}: {}", label, e.what()));
    }
    target->options[rest] = value;
    target->option_lines[rest] = 0;
}

void check_stages(const PipelineFile& file) {
    Problems problems(file.path);
    make_stages(problems, file, std::vector<bool>(file.stages.size(), true));
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
    const StageSpec& spec = source_spec(type);
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
    const OptionValues o = options_for(type, options);
    if (type == "synthetic") {
        SyntheticSource::Options s;
        s.width = static_cast<int>(o.integer("width"));
        s.height = static_cast<int>(o.integer("height"));
        s.frames = o.integer("frames");
        s.fps = o.number("fps");
        s.live = o.boolean("live");
        s.pattern = o.text("pattern") == "counter" ? SyntheticSource::Pattern::counter : SyntheticSource::Pattern::moving;
        if (input.rfind("synthetic:", 0) == 0 && input.size() > 10) s.name = input.substr(10);
        if (!entry.name.empty()) s.name = entry.name;
        return std::make_unique<SyntheticSource>(s);
    }
    if (type == "images") {
        ImageSource::Options s;
        s.inputs = {input};
        s.fps = o.number("fps");
        s.max_pixels = o.integer("max_pixels");
        s.max_file_mb = o.integer("max_file_mb");
        s.recursive = o.boolean("recursive");
        s.name = entry.name;
        return std::make_unique<ImageSource>(s);
    }
    VideoSource::Options s;
    s.path = camera_device_for(input);
    s.name = entry.name;
    s.realtime = o.boolean("realtime");
    s.decode_threads = static_cast<int>(o.integer("decode_threads"));
    s.autorotate = o.boolean("autorotate");
    s.max_pixels = o.integer("max_pixels");
    s.open_timeout = o.duration("open_timeout");
    s.read_timeout = o.duration("read_timeout");
    if (o.has("reconnect")) s.reconnect = o.boolean("reconnect");
    s.backoff_max = o.duration("backoff_max");
    if (o.has("video_size")) s.video_size = o.text("video_size");
    if (o.has("framerate")) s.framerate = o.text("framerate");
    if (o.has("input_format")) s.input_format = o.text("input_format");
    if (o.has("rtsp_transport")) s.ffmpeg_options["rtsp_transport"] = o.text("rtsp_transport");
    return std::make_unique<VideoSource>(s);
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
    auto pipeline = std::make_unique<Pipeline>(options);
    for (const InputEntry& input : chosen) {
        std::unique_ptr<Source> source;
        try {
            source = make_source(input, file.source);
        } catch (const ConfigError& e) {
            if (input.line == 0) throw;
            fail_at(file.path, input.line, e.what());
        }
        Chain& chain = pipeline->add_source(std::move(source));
        for (const StageEntry& entry : file.stages) {
            std::unique_ptr<Stage> stage;
            try {
                stage = make_stage(entry.type, entry.options, entry.name);
            } catch (const ConfigError& e) {
                fail_at(file.path, entry.line, fmt::format("stage '{}': {}", entry.name, e.what()));
            }
            EdgeOptions edge = entry.edge;
            if (!edge.overflow && file.edges.overflow) edge.overflow = file.edges.overflow;
            if (!edge.max_age && file.edges.max_age) edge.max_age = file.edges.max_age;
            chain.add(std::move(stage), edge);
        }
    }
    try {
        pipeline->validate();
    } catch (const ConfigError& e) {
        fail_at(file.path, 0, e.what());
    }
    return pipeline;
}

}  // namespace framepipe
