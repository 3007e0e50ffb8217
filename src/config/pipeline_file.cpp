#include <framepipe/error.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/sources/image_source.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/sources/video_source.hpp>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace framepipe {
namespace {

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

[[noreturn]] void fail_at(const std::string& path, int line, const std::string& message) {
    throw ConfigError(line > 0 ? fmt::format("{}:{}: {}", path, line, message) : fmt::format("{}: {}", path, message));
}

// Levenshtein distance, for "did you mean".
std::size_t distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string suggestion(const std::string& given, const std::vector<std::string>& known) {
    std::string best;
    std::size_t best_distance = 3;
    for (const std::string& k : known) {
        const std::size_t d = distance(given, k);
        if (d < best_distance) best = k, best_distance = d;
    }
    return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

std::string scalar(const std::string& path, const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar())
        fail_at(path, line_of(node), fmt::format("'{}' must be a single value, not a list or a map", key));
    return node.Scalar();
}

// ---- sources ------------------------------------------------------------------------------------------------------

std::vector<StageSpec> make_source_catalog() {
    using K = OptionKind;
    std::vector<StageSpec> sources;
    sources.push_back({"video", "A video file of any container and codec FFmpeg reads (the default for files)",
                       "framepipe run p.yaml clip.mp4", "source thread + decode and convert stages",
                       {{"realtime", K::boolean, "false", "Replay at the file's own rate, as a live camera"},
                        {"decode_threads", K::integer, "1", "libavcodec threads for inter-frame codecs", 1, 16},
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
                       "framepipe run p.yaml photos/   or   'shots/*.png'", "source thread + parallel decode stage",
                       {{"fps", K::number, "0", "Media time per image (1/fps); 0 = one second each", 0, 1000},
                        {"max_pixels", K::integer, "100000000", "Reject images claiming more pixels", 1, 1e12},
                        {"max_file_mb", K::integer, "512", "Reject larger image files unread (MB of 2^20 bytes)", 1,
                         1e6},
                        {"recursive", K::boolean, "false", "Descend into sub-folders"}},
                       nullptr});
    sources.push_back({"synthetic", "A test pattern with the frame number burned in (no camera or file needed)",
                       "framepipe run p.yaml synthetic   or   synthetic:front synthetic:back (named inputs)",
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
    if (forced != "auto") return forced;
    if (input == "synthetic" || input.rfind("synthetic:", 0) == 0) return "synthetic";
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec) || input.find_first_of("*?[") != std::string::npos ||
        ImageSource::is_image_name(input))
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
        if (std::any_of(spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) { return o.name == name; }))
            mine[name] = value;
    return check_options(spec, mine);
}

// ---- parsing ------------------------------------------------------------------------------------------------------

EdgeOptions parse_edge(const std::string& path, const YAML::Node& node, const std::string& where) {
    if (!node.IsMap()) fail_at(path, line_of(node), fmt::format("{} must be a map, e.g. {{ capacity: 4 }}", where));
    EdgeOptions edge;
    for (const auto& item : node) {
        const std::string key = item.first.as<std::string>();
        const YAML::Node& value = item.second;
        const int line = line_of(item.first);
        const std::string text = scalar(path, value, key);
        if (key == "capacity") {
            try {
                const long long capacity = std::stoll(text);
                if (capacity < 1 || capacity > 100000 || std::to_string(capacity) != text) throw std::out_of_range("");
                edge.capacity = static_cast<std::size_t>(capacity);
            } catch (...) {
                fail_at(path, line, fmt::format("{}: capacity must be a whole number from 1 to 100000, got '{}'", where, text));
            }
        } else if (key == "overflow") {
            edge.overflow = parse_overflow(text);
            if (!edge.overflow)
                fail_at(path, line, fmt::format("{}: overflow must be block, drop_oldest or drop_newest, got '{}'",
                                                where, text));
        } else if (key == "max_age") {
            try {
                edge.max_age = parse_duration(text);
            } catch (const ConfigError&) {
                fail_at(path, line, fmt::format("{}: max_age must be a duration such as 200ms, got '{}'", where, text));
            }
        } else {
            fail_at(path, line, fmt::format("{} has no key '{}'{}; keys are capacity, overflow, max_age", where, key,
                                            suggestion(key, {"capacity", "overflow", "max_age"})));
        }
    }
    return edge;
}

StageEntry parse_stage(const std::string& path, const YAML::Node& node, std::size_t index) {
    if (!node.IsMap())
        fail_at(path, line_of(node), fmt::format("stage {} must be a map such as {{ type: blur, ksize: 5 }}", index + 1));
    StageEntry entry;
    entry.line = line_of(node);
    for (const auto& item : node) {
        const std::string key = item.first.as<std::string>();
        const int line = line_of(item.first);
        if (key == "type") {
            entry.type = scalar(path, item.second, key);
        } else if (key == "name") {
            entry.name = scalar(path, item.second, key);
        } else if (key == "edge") {
            entry.edge = parse_edge(path, item.second, "edge");
        } else {
            entry.options[key] = scalar(path, item.second, key);
            entry.option_lines[key] = line;
        }
    }
    if (entry.type.empty()) fail_at(path, entry.line, fmt::format("stage {} has no 'type'", index + 1));
    const StageSpec* spec = find_stage_spec(entry.type);
    if (spec == nullptr) {
        std::vector<std::string> types;
        for (const StageSpec& s : stage_catalog()) types.push_back(s.type);
        fail_at(path, line_of(node["type"]),
                fmt::format("unknown stage type '{}'{}; known types: {} (see 'framepipe stages')", entry.type,
                            suggestion(entry.type, types), fmt::join(types, ", ")));
    }
    if (entry.name.empty()) entry.name = entry.type;
    // Each option on its own, so an error points at its line.
    for (const auto& [name, value] : entry.options) {
        const int line = entry.option_lines[name];
        if (std::none_of(spec->options.begin(), spec->options.end(), [&](const OptionSpec& o) { return o.name == name; })) {
            std::vector<std::string> names;
            for (const OptionSpec& o : spec->options) names.push_back(o.name);
            const std::string hint = suggestion(name, names);
            if (names.empty()) names.push_back("(none)");
            fail_at(path, line, fmt::format("stage '{}': '{}' has no option '{}'{}; its options are: {}", entry.name,
                                            entry.type, name, hint, fmt::join(names, ", ")));
        }
        try {
            check_options(*spec, {{name, value}});
        } catch (const ConfigError& e) {
            // A missing required option is reported once all options are read; only this value's problem matters.
            if (std::string(e.what()).find("needs option") == std::string::npos)
                fail_at(path, line, fmt::format("stage '{}': {}", entry.name, e.what()));
        }
    }
    return entry;
}

}  // namespace

const std::vector<StageSpec>& source_catalog() {
    static const std::vector<StageSpec> catalog = make_source_catalog();
    return catalog;
}

namespace {

// One source option: it must belong to some source type, with a valid value. `where` names it in errors.
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
                                        suggestion(name, all)));
}

// An input's name goes into file names, stream names and metrics labels: letters, digits, '_' and '-' only.
bool is_plain_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '_' || c == '-';
    });
}

// An input: a scalar path, or { path: ..., name: ..., <source options> }.
InputEntry parse_input_entry(const std::string& path, const YAML::Node& node) {
    const int line = line_of(node);
    if (node.IsScalar()) return {node.Scalar(), "", {}, line};
    if (!node.IsMap())
        fail_at(path, line, "an input is a path or URL, or a map such as { path: rtsp://cam/main, name: gate }");
    InputEntry input;
    input.line = line;
    for (const auto& item : node) {
        const std::string key = item.first.as<std::string>();
        const std::string text = scalar(path, item.second, key);
        if (key == "path") input.path = text;
        else if (key == "name") {
            if (!is_plain_name(text))
                fail_at(path, line_of(item.first),
                        fmt::format("input name '{}': use letters, digits, '_' and '-' (it names files)", text));
            input.name = text;
        }
        else {
            check_source_option(path, line_of(item.first), key, text);
            input.options[key] = text;
        }
    }
    if (input.path.empty()) fail_at(path, line, "this input has no 'path:' (a file, folder, URL, camera:N or synthetic)");
    return input;
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

PipelineFile parse_pipeline(const std::string& text, const std::string& path) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        fail_at(path, e.mark.line + 1, fmt::format("not valid YAML: {}", e.msg));
    }
    if (!root.IsMap()) fail_at(path, 0, "a pipeline file is a map with at least 'stages:'");
    PipelineFile file;
    file.path = path;
    static const std::vector<std::string> keys = {"stages", "inputs", "source", "edges", "threads", "drain_timeout",
                                                  "description"};
    for (const auto& item : root) {
        const std::string key = item.first.as<std::string>();
        const YAML::Node& value = item.second;
        const int line = line_of(item.first);
        if (key == "stages") {
            if (!value.IsSequence() || value.size() == 0)
                fail_at(path, line, "'stages' must be a list with at least one stage");
            for (std::size_t i = 0; i < value.size(); ++i) file.stages.push_back(parse_stage(path, value[i], i));
        } else if (key == "inputs") {
            if (value.IsScalar()) {
                file.inputs.push_back({value.Scalar(), "", {}, line});
            } else if (value.IsSequence()) {
                for (const auto& input : value) file.inputs.push_back(parse_input_entry(path, input));
            } else {
                fail_at(path, line, "'inputs' must be a file name or a list of them");
            }
        } else if (key == "source") {
            if (!value.IsMap()) fail_at(path, line, "'source' must be a map of source options, e.g. { realtime: true }");
            for (const auto& option : value) {
                const std::string name = option.first.as<std::string>();
                file.source[name] = scalar(path, option.second, name);
                file.source_lines[name] = line_of(option.first);
            }
        } else if (key == "edges") {
            file.edges = parse_edge(path, value, "edges");
        } else if (key == "threads") {
            const std::string t = scalar(path, value, key);
            try {
                const long long n = std::stoll(t);
                if (n < 0 || n > 256) throw std::out_of_range("");
                file.threads = static_cast<std::size_t>(n);
            } catch (...) {
                fail_at(path, line, fmt::format("threads must be a whole number from 0 (one per CPU) to 256, got '{}'", t));
            }
        } else if (key == "drain_timeout") {
            try {
                file.drain_timeout = parse_duration(scalar(path, value, key));
            } catch (const ConfigError&) {
                fail_at(path, line, "drain_timeout must be a duration such as 10s");
            }
        } else if (key != "description") {
            fail_at(path, line, fmt::format("unknown key '{}'{}; a pipeline file has: {}", key, suggestion(key, keys),
                                            fmt::join(keys, ", ")));
        }
    }
    if (file.stages.empty()) fail_at(path, 0, "no 'stages:' list; a pipeline needs at least one stage");
    // Source options: each must belong to some source type, with a valid value.
    for (const auto& [name, value] : file.source) check_source_option(path, file.source_lines[name], name, value);
    // Stage names must be unique: they name the stages in reports and in --set.
    std::set<std::string> names;
    for (const StageEntry& entry : file.stages)
        if (!names.insert(entry.name).second)
            fail_at(path, entry.line, fmt::format("two stages are named '{}'; give one a 'name:'", entry.name));
    return file;
}

PipelineFile load_pipeline_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(fmt::format("cannot read the pipeline file '{}'", path));
    std::stringstream text;
    text << in.rdbuf();
    return parse_pipeline(text.str(), path);
}

void apply_setting(PipelineFile& file, const std::string& assignment) {
    const std::size_t equals = assignment.find('=');
    if (equals == std::string::npos || equals == 0)
        throw ConfigError(fmt::format("--set '{}': write KEY=VALUE, e.g. --set blur.ksize=7", assignment));
    const std::string key = assignment.substr(0, equals);
    const std::string value = assignment.substr(equals + 1);
    const std::size_t dot = key.find('.');
    const std::string head = key.substr(0, dot);
    const std::string rest = dot == std::string::npos ? "" : key.substr(dot + 1);
    const auto reparse_edge = [&](EdgeOptions& edge, const std::string& field, const std::string& where) {
        YAML::Node node;
        node[field] = value;
        const EdgeOptions parsed = parse_edge("--set " + key, node, where);
        if (parsed.capacity) edge.capacity = parsed.capacity;
        if (parsed.overflow) edge.overflow = parsed.overflow;
        if (parsed.max_age) edge.max_age = parsed.max_age;
    };
    if (head == "threads" && rest.empty()) {
        file.threads = parse_pipeline("threads: " + value + "\nstages: [{type: \"null\"}]", "--set threads").threads;
        return;
    }
    if (head == "edges") return reparse_edge(file.edges, rest, "edges");
    if (head == "source") {
        if (rest.empty()) throw ConfigError("--set source.OPTION=VALUE: name the option");
        PipelineFile probe = parse_pipeline(fmt::format("source: {{ {}: \"{}\" }}\nstages: [{{type: \"null\"}}]", rest, value),
                                            "--set " + key);
        file.source[rest] = probe.source[rest];
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
        if (matches > 1) throw ConfigError(fmt::format("--set {}: several stages have type '{}'; use a stage's name", key, head));
    }
    if (target == nullptr) {
        std::vector<std::string> names;
        for (const StageEntry& entry : file.stages) names.push_back(entry.name);
        throw ConfigError(fmt::format("--set {}: no stage named '{}'{}; stages are: {} (or use source., edges., threads)",
                                      key, head, suggestion(head, names), fmt::join(names, ", ")));
    }
    if (rest.empty()) throw ConfigError(fmt::format("--set {}: name the option, e.g. {}.OPTION=VALUE", key, head));
    if (rest.rfind("edge.", 0) == 0) return reparse_edge(target->edge, rest.substr(5), "edge");
    const StageSpec* spec = find_stage_spec(target->type);
    try {
        check_options(*spec, {{rest, value}});
    } catch (const ConfigError& e) {
        if (std::string(e.what()).find("needs option") == std::string::npos)
            throw ConfigError(fmt::format("--set {}: {}", key, e.what()));
    }
    target->options[rest] = value;
    target->option_lines[rest] = 0;
}

void check_stages(const PipelineFile& file) {
    for (const StageEntry& entry : file.stages) {
        try {
            (void)make_stage(entry.type, entry.options, entry.name);
        } catch (const ConfigError& e) {
            fail_at(file.path, entry.line, fmt::format("stage '{}': {}", entry.name, e.what()));
        }
    }
}

std::unique_ptr<Source> make_source(const InputEntry& entry, const std::map<std::string, std::string>& file_options) {
    std::map<std::string, std::string> options = file_options;
    for (const auto& [key, value] : entry.options) options[key] = value;  // the input's own win
    const std::string& input = entry.path;
    const auto type_it = options.find("type");
    const std::string type = source_type_for(input, type_it == options.end() ? "auto" : type_it->second);
    const StageSpec& spec = source_spec(type);
    for (const auto& [key, value] : entry.options) {
        const bool known = key == "type" || std::any_of(spec.options.begin(), spec.options.end(),
                                                        [&](const OptionSpec& o) { return o.name == key; });
        if (!known) {
            std::vector<std::string> names;
            for (const OptionSpec& o : spec.options) names.push_back(o.name);
            throw ConfigError(fmt::format("input '{}' is a {} source, which has no option '{}'; it has: {}", input, type,
                                          key, fmt::join(names, ", ")));
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
    return pipeline;
}

}  // namespace framepipe
