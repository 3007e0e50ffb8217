// For the tests: a plugin marked as built against framepipe 0.0.9 (as FRAMEPIPE_PLUGIN() marks it there). framepipe
// must refuse it before running any of its code.
#include <framepipe/registry.hpp>

#include <cstdio>
#include <cstdlib>

extern "C" __attribute__((visibility("default"), used)) const char framepipe_plugin_version[] =
    "FRAMEPIPE_PLUGIN_VERSION=0.0.9";

namespace {
// Runs only if the plugin is loaded, which it must not be.
const bool loaded = [] {
    std::fputs("other_version plugin: loaded although built against another version\n", stderr);
    std::abort();
    return true;
}();
}  // namespace
