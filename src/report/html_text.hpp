#pragma once
// Text placed in HTML (the report page, the live view's page): made displayable first (bytes that are not UTF-8 and
// control characters as \xHH, see text_escape.hpp), then the five characters that would change its meaning replaced by
// entities.

#include "text_escape.hpp"

#include <string>
#include <string_view>

namespace framepipe {

inline std::string html_escaped(std::string_view raw) {
    const std::string text = displayable(raw);
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

}  // namespace framepipe
