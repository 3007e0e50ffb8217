#include "natural_order.hpp"

#include <cctype>

namespace framepipe::media {

bool natural_less(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            std::size_t i_end = i, j_end = j;
            while (i_end < a.size() && std::isdigit(static_cast<unsigned char>(a[i_end]))) ++i_end;
            while (j_end < b.size() && std::isdigit(static_cast<unsigned char>(b[j_end]))) ++j_end;
            std::size_t i_sig = i, j_sig = j;  // skip leading zeros, then compare by length, then digits
            while (i_sig + 1 < i_end && a[i_sig] == '0') ++i_sig;
            while (j_sig + 1 < j_end && b[j_sig] == '0') ++j_sig;
            const std::size_t i_len = i_end - i_sig, j_len = j_end - j_sig;
            if (i_len != j_len) return i_len < j_len;
            const int cmp = a.compare(i_sig, i_len, b, j_sig, j_len);
            if (cmp != 0) return cmp < 0;
            if ((i_end - i) != (j_end - j)) return (i_end - i) < (j_end - j);  // fewer leading zeros first
            i = i_end;
            j = j_end;
        } else {
            const auto ca = std::tolower(static_cast<unsigned char>(a[i]));
            const auto cb = std::tolower(static_cast<unsigned char>(b[j]));
            if (ca != cb) return ca < cb;
            ++i;
            ++j;
        }
    }
    if ((a.size() - i) != (b.size() - j)) return (a.size() - i) < (b.size() - j);
    return a < b;
}

}  // namespace framepipe::media
