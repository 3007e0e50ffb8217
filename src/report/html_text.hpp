#pragma once
// Text placed in HTML (the report page, the live view's page): the five characters that would change its meaning
// replaced by entities.

#include <string>
#include <string_view>

namespace framepipe {

inline std::string html_escaped(std::string_view text) {
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
