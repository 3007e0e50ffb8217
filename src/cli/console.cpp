#include "console.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <unistd.h>

namespace framepipe::cli {
namespace {

std::atomic<bool> g_progress_showing{false};
std::atomic<int> g_progress_lines{0};  // lines above the cursor that belong to the display
std::mutex g_console;

void erase_display() {  // with g_console held
    if (!g_progress_showing.exchange(false)) return;
    std::fputs("\r\033[K", stderr);
    for (int i = g_progress_lines.exchange(0); i > 0; --i) std::fputs("\033[1A\r\033[K", stderr);
}

class ConsoleSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::lock_guard lock(g_console);
        erase_display();
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
    erase_display();
}

std::string Progress::live_table(const RunReport& snapshot, double seconds) {
    std::string out;
    last_processed_.resize(snapshot.sources.size());
    last_busy_.resize(snapshot.sources.size());
    for (std::size_t i = 0; i < snapshot.sources.size(); ++i) {
        const SourceReport& s = snapshot.sources[i];
        out += fmt::format("{}: {} in, {} delivered, {} filtered, {} rejected, {} dropped, end-to-end p50 {:.1f} ms p95 "
                           "{:.1f} ms p99 {:.1f} ms, {:.0f} ms behind real time\n",
                           s.name, s.captured, s.delivered, s.filtered(), s.rejected(), s.dropped(),
                           in_ms(s.end_to_end.p50), in_ms(s.end_to_end.p95),
                           in_ms(s.end_to_end.p99),
                           in_ms(s.behind_real_time));
        out += fmt::format("  {:<16} {:>7} {:>17} {:>6} {:>7} {:>8} {:>8}\n", "stage", "fps", "service p50/p99", "busy",
                           "queue", "filtered", "dropped");
        last_processed_[i].resize(s.stages.size(), 0);
        last_busy_[i].resize(s.stages.size(), 0);
        for (std::size_t k = 0; k < s.stages.size(); ++k) {
            const StageReport& st = s.stages[k];
            const double fps = seconds > 0 ? static_cast<double>(st.processed - last_processed_[i][k]) / seconds : 0;
            last_processed_[i][k] = st.processed;
            const double busy_s = in_seconds(st.busy);
            const double busy = seconds > 0 ? (busy_s - last_busy_[i][k]) / (seconds * static_cast<double>(std::max<std::size_t>(st.concurrency, 1))) : 0;
            last_busy_[i][k] = busy_s;
            out += fmt::format("  {:<16} {:>7.1f} {:>17} {:>5.0f}% {:>7} {:>8} {:>8}\n", st.name, fps,
                               fmt::format("{:.1f} / {:.1f} ms",
                                           in_ms(st.service.p50),
                                           in_ms(st.service.p99)),
                               100 * std::clamp(busy, 0.0, 1.0), fmt::format("{}/{}", s.edges[k].queued, s.edges[k].capacity),
                               st.filtered_total(), st.dropped() + s.edges[k].dropped());
        }
    }
    return out;
}

Progress::Progress(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO) != 0) {}

void Progress::update(const RunReport& snapshot) {
    if (!enabled_) return;
    std::lock_guard guard(mutex_);
    std::uint64_t done = 0, dropped = 0;
    for (const SourceReport& s : snapshot.sources) {
        done += s.settled();
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
    if (live) {
        const double seconds = std::chrono::duration<double>(now - last_table_).count();
        if (last_table_ != std::chrono::steady_clock::time_point{} && seconds < 0.9) return;
        const std::string table = live_table(snapshot, last_table_ == std::chrono::steady_clock::time_point{} ? 0 : seconds);
        last_table_ = now;
        std::lock_guard lock(g_console);
        erase_display();
        std::fputs(table.c_str(), stderr);
        std::fflush(stderr);
        g_progress_lines.store(static_cast<int>(std::count(table.begin(), table.end(), '\n')));
        g_progress_showing.store(true);
        return;
    }
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
                           duration_text(in_seconds(snapshot.wall_time)));
    }
    if (snapshot.sources.size() > 1) {
        line += "  |";
        for (const SourceReport& s : snapshot.sources) line += fmt::format(" {} {}", s.name, s.settled());
    }
    std::lock_guard lock(g_console);
    erase_display();
    fmt::print(stderr, "{}", line.substr(0, 200));
    std::fflush(stderr);
    g_progress_showing.store(true);
}

void Progress::clear() {
    if (enabled_) clear_progress_line();
}

}  // namespace framepipe::cli
