#include "av_support.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>

namespace framepipe::media {
namespace {

// FFmpeg's own messages go to framepipe's log at debug level: framepipe reports problems itself, in its own words,
// and `--verbose` shows FFmpeg's detail when it helps.
void log_to_spdlog(void* object, int level, const char* format, va_list arguments) {
    if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
    char line[1024];
    int print_prefix = 1;
    av_log_format_line2(object, level, format, arguments, line, sizeof line, &print_prefix);
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!text.empty()) spdlog::debug("ffmpeg: {}", text);
}

}  // namespace

void quiet_ffmpeg_logging() {
    static std::once_flag once;
    std::call_once(once, [] {
        av_log_set_level(AV_LOG_WARNING);
        av_log_set_callback(log_to_spdlog);
    });
}

}  // namespace framepipe::media
