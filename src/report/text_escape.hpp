#pragma once
// Names as every output shows them. A file name is bytes, not text: one that is not UTF-8 (a Latin-1 name, a cut
// multi-byte sequence) makes JSON invalid (nlohmann's dump throws on it), and a control character in it breaks lines in
// logs, Prometheus text and terminals. displayable() is the one mapping: used where names enter (image labels, folder
// names) and, defensively, by every writer of JSON, HTML and Prometheus text. Header-only, no state: thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

namespace framepipe {

/// Length of the valid UTF-8 sequence starting at text[at] (1..4), or 0 when the bytes there are not valid UTF-8
/// (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short).
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t at) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char b0 = byte(at);
    if (b0 < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) n = 2;
    else if (b0 == 0xE0) n = 3, lo = 0xA0;
    else if (b0 >= 0xE1 && b0 <= 0xEC) n = 3;
    else if (b0 == 0xED) n = 3, hi = 0x9F;  // no UTF-16 surrogates
    else if (b0 >= 0xEE && b0 <= 0xEF) n = 3;
    else if (b0 == 0xF0) n = 4, lo = 0x90;
    else if (b0 >= 0xF1 && b0 <= 0xF3) n = 4;
    else if (b0 == 0xF4) n = 4, hi = 0x8F;  // nothing beyond U+10FFFF
    else return 0;
    if (at + n > text.size()) return 0;
    if (byte(at + 1) < lo || byte(at + 1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
    return n;
}

/// Text (messages, verdicts) keeps its line breaks and tabs; a name keeps no control character at all.
enum class Controls { keep_line_breaks, escape_all };

namespace detail {
inline bool escaped_control(unsigned char c, Controls controls) noexcept {
    if (controls == Controls::keep_line_breaks && (c == '\n' || c == '\t')) return false;
    return c < 0x20 || c == 0x7F;
}
}  // namespace detail

/// True when displayable(text, controls) would return `text` unchanged.
inline bool is_displayable(std::string_view text, Controls controls = Controls::keep_line_breaks) noexcept {
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t n = utf8_sequence_length(text, at);
        if (n == 0 || (n == 1 && detail::escaped_control(static_cast<unsigned char>(text[at]), controls))) return false;
        at += n;
    }
    return true;
}

/// `text` with every byte that is not part of valid UTF-8, and every control character (U+0000..U+001F, U+007F; with
/// keep_line_breaks, except newline and tab), written as the four characters \xHH; everything else unchanged. The
/// result is valid UTF-8, and displayable() of it is itself, so a writer applying it again after the source changes
/// nothing.
inline std::string displayable(std::string_view text, Controls controls = Controls::keep_line_breaks) {
    if (is_displayable(text, controls)) return std::string(text);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() + 16);
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t n = utf8_sequence_length(text, at);
        const auto c = static_cast<unsigned char>(text[at]);
        if (n == 0 || (n == 1 && detail::escaped_control(c, controls))) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
            ++at;
            continue;
        }
        out.append(text.substr(at, n));
        at += n;
    }
    return out;
}

/// A file or folder name as framepipe shows and records it (frame labels, source names): displayable, no control
/// characters. Output file names derived from it ({label}, {input}) are therefore valid UTF-8 too.
inline std::string displayable_name(std::string_view name) { return displayable(name, Controls::escape_all); }

/// A JSON string literal of `raw`, made displayable first (JSON must be UTF-8, and a file name need not be); line breaks
/// and tabs are escaped, so the literal stays on one line.
inline std::string json_quoted(std::string_view raw) {
    static const char hex[] = "0123456789abcdef";
    const std::string text = displayable(raw);
    std::string out = "\"";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') out += '\\';
        if (byte < 0x20) {
            out += "\\u00";
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
            continue;
        }
        out += c;
    }
    return out + "\"";
}

/// A CSV field (RFC 4180) of a name: displayable_name(), quoted when it holds a comma, quote or line break.
inline std::string csv_field(std::string_view raw) {
    const std::string text = displayable_name(raw);
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

}  // namespace framepipe
