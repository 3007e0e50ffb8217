#include "console.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <unistd.h>

namespace framepipe::cli {
namespace {

std::atomic<bool> g_progress_showing{false};
std::mutex g_console;

class ConsoleSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::lock_guard lock(g_console);
        if (g_progress_showing.exchange(false)) std::fputs("\r\033[K", stderr);
        const char* level = msg.level == spdlog::level::warn   ? "warning"
                            : msg.level == spdlog::level::err  ? "error"
                            : msg.level == spdlog::level::info ? nullptr
                                                               : "debug";
        if (level != nullptr)
            fmt::print(stderr, "{}: {}\n", level, std::string_view(msg.payload.data(), msg.payload.size()));
        else
            fmt::print(stderr, "{}\n", std::string_view(msg.payload.data(), msg.payload.size()));
    }
    void flush_() override { std::fflush(stderr); }
};

std::string duration_text(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

void set_up_logging(Verbosity verbosity) {
    auto logger = std::make_shared<spdlog::logger>("framepipe", std::make_shared<ConsoleSink>());
    logger->set_level(verbosity == Verbosity::quiet     ? spdlog::level::warn
                      : verbosity == Verbosity::verbose ? spdlog::level::debug
                                                        : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

void clear_progress_line() {
    std::lock_guard lock(g_console);
    if (g_progress_showing.exchange(false)) std::fputs("\r\033[K", stderr);
}

Progress::Progress(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) != 0) {}

void Progress::update(const RunReport& snapshot) {
    if (!enabled_) return;
    std::lock_guard guard(mutex_);
    std::uint64_t done = 0, dropped = 0;
    for (const SourceReport& s : snapshot.sources) {
        done += s.delivered + s.dropped();
        dropped += s.dropped();
    }
    const auto now = std::chrono::steady_clock::now();
    if (last_time_ != std::chrono::steady_clock::time_point{}) {
        const double dt = std::chrono::duration<double>(now - last_time_).count();
        const double instant = dt > 0 ? static_cast<double>(done - last_done_) / dt : 0;
        rate_ = rate_ == 0 ? instant : 0.7 * rate_ + 0.3 * instant;  // smoothed
    }
    last_done_ = done;
    last_time_ = now;

    std::string line;
    bool live = false;
    for (const SourceReport& s : snapshot.sources) live = live || s.live;
    std::uint64_t total = 0;
    bool estimated = false;
    for (const SourceReport& s : snapshot.sources) {
        if (!s.expected_frames || *s.expected_frames <= 0) {
            total = 0;
            break;
        }
        total += static_cast<std::uint64_t>(*s.expected_frames);
        estimated = estimated || s.expected_is_estimate;
    }
    if (!live && total > 0) {
        const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
        const int width = 24;
        const int filled = static_cast<int>(fraction * width);
        const double eta = rate_ > 0 ? static_cast<double>(total > done ? total - done : 0) / rate_ : 0;
        line = fmt::format("[{}{}] {:3.0f}%  {}/{}{} frames  {:.1f} fps  ETA {}", std::string(filled, '#'),
                           std::string(width - filled, '.'), fraction * 100, done, estimated ? "~" : "", total, rate_,
                           rate_ > 0 ? duration_text(eta) : "?");
    } else {
        line = fmt::format("{} frames  {:.1f} fps  {} dropped  {}", done, rate_, dropped,
                           duration_text(std::chrono::duration<double>(snapshot.wall_time).count()));
    }
    if (snapshot.sources.size() > 1) {
        line += "  |";
        for (const SourceReport& s : snapshot.sources) line += fmt::format(" {} {}", s.name, s.delivered + s.dropped());
    }
    std::lock_guard lock(g_console);
    fmt::print(stderr, "\r\033[K{}", line.substr(0, 200));
    std::fflush(stderr);
    g_progress_showing.store(true);
}

void Progress::clear() {
    if (enabled_) clear_progress_line();
}

}  // namespace framepipe::cli
