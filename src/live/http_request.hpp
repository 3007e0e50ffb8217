#pragma once
// The HTTP/1.1 request head as the live view's server reads it: finding where a head ends, parsing its request line,
// query and headers, and the pieces of authentication (percent- and base64-decoding, a constant-time secret compare).
// Pure functions on bytes already received: no I/O, no state, safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace framepipe::live::http {

struct Request {
    std::string method;                                        // as sent ("GET", "HEAD", ...)
    std::string path;                                          // the target before '?', not decoded ("/stream.mjpg")
    std::vector<std::pair<std::string, std::string>> query;    // decoded names and values, in order
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed

    /// The first query value named `name`, or null.
    [[nodiscard]] const std::string* param(std::string_view name) const;
    /// The first header named `lower_name` (give it lower-case), or null.
    [[nodiscard]] const std::string* header(std::string_view lower_name) const;
};

/// The length of the request head at the start of `data` including its blank line ("\r\n\r\n", or "\n\n" from lax
/// clients), or npos while the blank line has not arrived.
[[nodiscard]] std::size_t head_length(std::string_view data) noexcept;

/// Parses a complete request head (request line "METHOD TARGET HTTP/1.x" and "Name: value" lines); nullopt when it
/// is not one (the server answers 400).
[[nodiscard]] std::optional<Request> parse_request_head(std::string_view head);

/// %XX sequences decoded, and '+' as a space when `plus_is_space` (query strings). Malformed escapes stay as they are.
[[nodiscard]] std::string url_decoded(std::string_view text, bool plus_is_space);
/// Everything but unreserved characters (RFC 3986: letters, digits, "-._~") as %XX.
[[nodiscard]] std::string url_encoded(std::string_view text);
/// Standard base64 (padding optional); nullopt when `text` is not base64.
[[nodiscard]] std::optional<std::string> base64_decoded(std::string_view text);

/// Whether `given` equals `secret`, in a time that depends only on the secret's length (not on where they differ).
[[nodiscard]] bool same_secret(std::string_view given, std::string_view secret) noexcept;

/// "OK", "Not Found" ... for the status codes the server sends.
[[nodiscard]] const char* reason_phrase(int status) noexcept;

}  // namespace framepipe::live::http
