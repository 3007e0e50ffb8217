#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace framepipe::stages {

std::string stem_of(std::string_view name) {
    const std::size_t slash = name.find_last_of('/');
    if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
    const std::size_t dot = name.find_last_of('.');
    return std::string(dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot));
}

std::string format_media_time(Duration t, char separator) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
    return fmt::format("{:02}{}{:02}{}{:02}.{:03}", ms / 3'600'000, separator, ms / 60'000 % 60, separator,
                       ms / 1000 % 60, ms % 1000);
}

namespace {
std::tm local_time(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm local{};
    localtime_r(&seconds, &local);
    return local;
}
}  // namespace

std::string file_clock(std::chrono::system_clock::time_point t) { return fmt::format("{:%Y%m%d-%H%M%S}", local_time(t)); }

std::string event_file_stem(std::string_view input, std::uint64_t event, const Frame& first_frame, bool live) {
    if (!live) return fmt::format("{}_event{:04}_{}", stem_of(input), event, format_media_time(first_frame.media_time, '-'));
    static const auto wall_minus_steady = std::chrono::system_clock::now().time_since_epoch() -
                                          std::chrono::steady_clock::now().time_since_epoch();
    const auto wall = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        first_frame.capture_time.time_since_epoch() + wall_minus_steady));
    return fmt::format("{}_{}_event{:04}", stem_of(input), file_clock(wall), event);
}

std::string render_template(const std::string& text, const TemplateFields& fields) {
    const std::string input = stem_of(fields.input);
    const std::string time = format_media_time(fields.frame.media_time, fields.for_file_name ? '-' : ':');
    const double seconds = in_seconds(fields.frame.media_time);
    const auto now = std::chrono::system_clock::now();
    const std::string clock = fields.for_file_name ? file_clock(now) : fmt::format("{:%Y-%m-%d %H:%M:%S}", local_time(now));
    const std::string_view label = fields.frame.label.empty() ? std::string_view(input) : fields.frame.label;
    const std::string label_stem = fields.for_file_name ? stem_of(label) : std::string(label);
    return fmt::format(fmt::runtime(text), fmt::arg("input", input), fmt::arg("frame", fields.frame.sequence),
                       fmt::arg("time", time), fmt::arg("seconds", fmt::format("{:.3f}", seconds)),
                       fmt::arg("clock", clock), fmt::arg("label", label_stem), fmt::arg("index", fields.index));
}

void validate_template(const std::string& text, std::string_view option) {
    Frame probe;
    try {
        (void)render_template(text, TemplateFields{"input.mp4", probe});
    } catch (const fmt::format_error& e) {
        throw ConfigError(fmt::format("option '{}': '{}' is not a valid template ({}); fields are {{input}}, {{frame}}, "
                                      "{{time}}, {{seconds}}, {{clock}}, {{label}}, {{index}}, e.g. "
                                      "\"{{input}}_{{frame:06}}.jpg\"",
                                      option, text, e.what()));
    }
}

}  // namespace framepipe::stages
