#include "template_text.hpp"

#include <framepipe/error.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

namespace framepipe::stages {

namespace {
constexpr std::size_t kShortenedTail = 32;  // bytes of a shortened name's end that are kept
}  // namespace

std::string stem_of(std::string_view name) {
    const std::size_t slash = name.find_last_of('/');
    if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
    const std::size_t dot = name.find_last_of('.');
    return std::string(dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot));
}

std::string fit_file_name(const std::string& name, std::size_t name_max) {
    if (name.size() <= name_max) return name;
    std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
    for (const char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    const std::size_t dot = name.find_last_of('.');
    const bool has_extension = dot != std::string::npos && dot > 0 && name.size() - dot <= 16;
    const std::string extension = has_extension ? name.substr(dot) : "";
    const std::string_view stem = std::string_view(name).substr(0, has_extension ? dot : name.size());
    const std::string mark = fmt::format("~{:012x}", hash & 0xFFFF'FFFF'FFFFull);
    const auto boundary = [&](std::size_t at) {  // moves `at` back to the start of the UTF-8 character it is in
        while (at > 0 && at < stem.size() && (static_cast<unsigned char>(stem[at]) & 0xC0) == 0x80) --at;
        return at;
    };
    const std::size_t room = name_max > extension.size() + mark.size() ? name_max - extension.size() - mark.size() : 0;
    // The end of the stem is kept too: that is where the frame number or time usually is.
    const std::size_t tail_start = boundary(stem.size() - std::min<std::size_t>({kShortenedTail, room / 2, stem.size()}));
    const std::size_t head = boundary(std::min(room - (stem.size() - tail_start), stem.size()));
    return std::string(stem.substr(0, head)) + mark + std::string(stem.substr(tail_start)) + extension;
}

bool looks_shortened(std::string_view name) {
    for (std::size_t at = name.find('~'); at != std::string_view::npos; at = name.find('~', at + 1))
        if (name.size() - at > 12 && std::all_of(name.begin() + static_cast<std::ptrdiff_t>(at) + 1,
                                                 name.begin() + static_cast<std::ptrdiff_t>(at) + 13,
                                                 [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
            return true;
    return false;
}

namespace {
// Calls on_literal(text) and on_field(name, spec) for the pieces of a template, in order ("{{" and "}}" are literal
// braces).
template <class Literal, class Field>
void split_template(const std::string& text, Literal on_literal, Field on_field) {
    std::string literal;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
            literal += c;
            ++i;
        } else if (c == '{') {
            const std::size_t close = text.find('}', i);
            if (close == std::string::npos) break;
            const std::string field = text.substr(i + 1, close - i - 1);
            const std::size_t colon = field.find(':');
            on_literal(literal);
            literal.clear();
            on_field(field.substr(0, colon), colon == std::string::npos ? std::string() : field.substr(colon + 1));
            i = close;
        } else {
            literal += c;
        }
    }
    on_literal(literal);
}
}  // namespace

bool template_uses(const std::string& text, std::string_view field) {
    bool used = false;
    split_template(text, [](const std::string&) {}, [&](const std::string& name, const std::string&) {
        used = used || name == field;
    });
    return used;
}

std::vector<std::string> template_literals(const std::string& text, std::string_view input) {
    std::vector<std::string> literals(1);
    split_template(
        text, [&](const std::string& literal) { literals.back() += literal; },
        [&](const std::string& name, const std::string& spec) {
            if (name == "input" && spec.empty()) literals.back() += stem_of(input);
            else literals.emplace_back();
        });
    return literals;
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

std::chrono::seconds utc_offset(std::chrono::system_clock::time_point t) {
    return std::chrono::seconds(local_time(t).tm_gmtoff);
}

std::string iso_clock(std::chrono::system_clock::time_point t) {
    const std::tm local = local_time(t);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    const long offset = local.tm_gmtoff / 60;  // minutes east of UTC
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}{}{:02}:{:02}", local, (ms + 1000) % 1000, offset < 0 ? '-' : '+',
                       std::labs(offset) / 60, std::labs(offset) % 60);
}

std::chrono::system_clock::time_point wall_now(const Clock* clock) {
    return clock != nullptr ? clock->wall_now() : std::chrono::system_clock::now();
}

std::string event_file_stem(std::string_view input, std::uint64_t event, const Frame& first_frame, bool live,
                            const Clock* clock) {
    if (!live) return fmt::format("{}_event{:04}_{}", stem_of(input), event, format_media_time(first_frame.media_time, '-'));
    const Clock& on = clock != nullptr ? *clock : SteadyClock::instance();
    return fmt::format("{}_{}_event{:04}", stem_of(input), file_clock(on.wall_time(first_frame.capture_time)), event);
}

std::string render_template(const std::string& text, const TemplateFields& fields) {
    const std::string input = stem_of(fields.input);
    const std::string time = format_media_time(fields.frame.media_time, fields.for_file_name ? '-' : ':');
    const double seconds = in_seconds(fields.frame.media_time);
    const auto now = fields.wall ? *fields.wall : wall_now(fields.clock);
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
