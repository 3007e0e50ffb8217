// The registry: declarations of stage and source types (built-in ones while the library loads, a plugin's while
// load_plugin loads it), the catalogues in listing order, and plugin loading.
#include "registry/suggest.hpp"

#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>

#include <fmt/format.h>

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

namespace framepipe {
namespace {

template <class Spec>
struct Declared {
    std::vector<Spec> specs;  // listing order; ties in order of declaration

    void add(Spec spec) {
        const auto at = std::find_if(specs.begin(), specs.end(),
                                     [&](const Spec& s) { return s.list_order > spec.list_order; });
        specs.insert(at, std::move(spec));
    }
    [[nodiscard]] const Spec* find(std::string_view type) const {
        for (const Spec& s : specs)
            if (s.type == type) return &s;
        return nullptr;
    }
};

struct Registry {
    Declared<StageSpec> stages;
    Declared<SourceSpec> sources;
    // While load_plugin loads a plugin, its declarations wait here until the whole plugin is accepted.
    bool staging = false;
    std::vector<StageSpec> staged_stages;
    std::vector<SourceSpec> staged_sources;
    std::set<std::filesystem::path> plugins;  // loaded, by canonical path
};

// Built on first use: declarations run during static initialisation, in whatever order the objects' initialisers run.
Registry& registry() {
    static Registry r;
    return r;
}

std::mutex& plugin_mutex() {
    static std::mutex m;
    return m;
}

[[noreturn]] void declared_twice(std::string_view what, std::string_view type) {
    std::fprintf(stderr, "framepipe: the %.*s type '%.*s' is declared twice; give one another type\n",
                 static_cast<int>(what.size()), what.data(), static_cast<int>(type.size()), type.data());
    std::abort();
}

}  // namespace

bool declare_stage(StageSpec spec) {
    Registry& r = registry();
    if (r.staging) {
        r.staged_stages.push_back(std::move(spec));
        return true;
    }
    if (r.stages.find(spec.type) != nullptr) declared_twice("stage", spec.type);
    r.stages.add(std::move(spec));
    return true;
}

bool declare_source(SourceSpec spec) {
    Registry& r = registry();
    if (r.staging) {
        r.staged_sources.push_back(std::move(spec));
        return true;
    }
    if (r.sources.find(spec.type) != nullptr) declared_twice("source", spec.type);
    r.sources.add(std::move(spec));
    return true;
}

const std::vector<StageSpec>& stage_catalog() { return registry().stages.specs; }
const std::vector<SourceSpec>& source_catalog() { return registry().sources.specs; }
const StageSpec* find_stage_spec(std::string_view type) { return registry().stages.find(type); }
const SourceSpec* find_source_spec(std::string_view type) { return registry().sources.find(type); }

// ---- plugins --------------------------------------------------------------------------------------------------------

namespace {

// The version FRAMEPIPE_PLUGIN() wrote into the file ("FRAMEPIPE_PLUGIN_VERSION=" and digits and dots), read without
// loading it: a plugin of another version must not run any code here. nullopt when the file has none.
std::optional<std::string> plugin_version_in(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("cannot read the plugin '{}'", path));
    const std::string marker = "FRAMEPIPE_PLUGIN_VERSION=";
    std::string window;
    char chunk[1 << 16];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        window.append(chunk, static_cast<std::size_t>(in.gcount()));
        for (std::size_t at = window.find(marker); at != std::string::npos; at = window.find(marker, at + 1)) {
            std::size_t end = at + marker.size();
            while (end < window.size() && (std::isdigit(static_cast<unsigned char>(window[end])) || window[end] == '.'))
                ++end;
            if (end == window.size()) break;  // may go on in the next chunk
            if (end > at + marker.size() && window[end] == '\0') return window.substr(at + marker.size(), end - at - marker.size());
        }
        // Keep a tail long enough to hold a marker and a version cut by the chunk boundary.
        if (window.size() > 256) window.erase(0, window.size() - 256);
    }
    return std::nullopt;
}

}  // namespace

void load_plugin(const std::string& path) {
    const std::lock_guard lock(plugin_mutex());
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw ConfigError(fmt::format("plugin '{}': no such file; check the path (a plugin is a .so file built "
                                      "against framepipe)",
                                      path));
    const std::filesystem::path canonical = std::filesystem::canonical(path, ec);
    Registry& r = registry();
    if (r.plugins.count(canonical) != 0) return;
    const std::optional<std::string> version = plugin_version_in(path);
    if (!version)
        throw ConfigError(fmt::format("'{}' is not a framepipe plugin: it has no FRAMEPIPE_PLUGIN() mark (add "
                                      "FRAMEPIPE_PLUGIN() from <framepipe/registry.hpp> to one of its files)",
                                      path));
    if (*version != FRAMEPIPE_VERSION)
        throw ConfigError(fmt::format("plugin '{}' was built against framepipe {}, but this is framepipe {}; rebuild "
                                      "the plugin against framepipe {} (or use the framepipe it was built for)",
                                      path, *version, FRAMEPIPE_VERSION, FRAMEPIPE_VERSION));
    r.staging = true;
    r.staged_stages.clear();
    r.staged_sources.clear();
    void* handle = ::dlopen(canonical.c_str(), RTLD_NOW | RTLD_LOCAL);
    r.staging = false;
    std::vector<StageSpec> stages = std::move(r.staged_stages);
    std::vector<SourceSpec> sources = std::move(r.staged_sources);
    r.staged_stages.clear();
    r.staged_sources.clear();
    if (handle == nullptr) {
        const char* why = ::dlerror();
        throw ConfigError(fmt::format("plugin '{}' cannot be loaded: {}", path, why != nullptr ? why : "unknown error"));
    }
    // From here on a refusal unloads the plugin: none of its declarations took effect.
    const auto refuse = [&](const std::string& why) {
        stages.clear();  // their factories live in the plugin's code
        sources.clear();
        ::dlclose(handle);
        throw ConfigError(fmt::format("plugin '{}': {}", path, why));
    };
    if (::dlsym(handle, "framepipe_plugin_version") == nullptr)
        refuse("its FRAMEPIPE_PLUGIN() mark is not an exported symbol; build it with default visibility for that line");
    if (stages.empty() && sources.empty()) refuse("it declares no stage and no source type");
    std::set<std::string> types;
    for (const StageSpec& s : stages) {
        if (find_stage_spec(s.type) != nullptr || !types.insert(s.type).second)
            refuse(fmt::format("it declares the stage type '{}', which framepipe (or another plugin) already has; "
                               "rename the plugin's type",
                               s.type));
        if (!s.make) refuse(fmt::format("its stage type '{}' has no factory (make)", s.type));
    }
    for (const SourceSpec& s : sources) {
        if (find_source_spec(s.type) != nullptr || s.type == "auto" || !types.insert("source " + s.type).second)
            refuse(fmt::format("it declares the source type '{}', which framepipe (or another plugin) already has; "
                               "rename the plugin's type",
                               s.type));
        if (!s.make || !s.claims) refuse(fmt::format("its source type '{}' needs both make and claims", s.type));
    }
    for (StageSpec& s : stages) r.stages.add(std::move(s));
    for (SourceSpec& s : sources) r.sources.add(std::move(s));
    r.plugins.insert(canonical);
}

}  // namespace framepipe
