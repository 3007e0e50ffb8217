#include "av_support.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>
#include <vector>

namespace framepipe::media {
namespace {

// FFmpeg's own messages go to framepipe's log at debug level: framepipe reports problems itself, in its own words,
// and `--verbose` shows FFmpeg's detail when it helps.
std::mutex g_counters_mutex;
std::vector<ErrorCounter*> g_counters;  // few (one per decoder context); searched only when FFmpeg logs an error

void log_to_spdlog(void* object, int level, const char* format, va_list arguments) {
    if (level <= AV_LOG_ERROR && object != nullptr) count_logged_error(object);
    if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
    char line[1024];
    int print_prefix = 1;
    av_log_format_line2(object, level, format, arguments, line, sizeof line, &print_prefix);
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!text.empty()) spdlog::debug("ffmpeg: {}", text);
}

}  // namespace

void count_logged_error(const void* context) noexcept {
    const std::lock_guard lock(g_counters_mutex);
    for (ErrorCounter* counter : g_counters)
        if (counter->context_ == context) counter->count_.fetch_add(1, std::memory_order_relaxed);
}

ErrorCounter::ErrorCounter(const void* context) : context_(context) {
    quiet_ffmpeg_logging();  // installs the callback that counts
    const std::lock_guard lock(g_counters_mutex);
    g_counters.push_back(this);
}

ErrorCounter::~ErrorCounter() {
    const std::lock_guard lock(g_counters_mutex);
    std::erase(g_counters, this);
}

void quiet_ffmpeg_logging() {
    static std::once_flag once;
    std::call_once(once, [] {
        av_log_set_level(AV_LOG_WARNING);
        av_log_set_callback(log_to_spdlog);
    });
}

}  // namespace framepipe::media
