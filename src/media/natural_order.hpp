#pragma once
// Natural ("human") ordering of file names, as file managers sort them: "frame2" before "frame10".

#include <string>

namespace framepipe::media {

/// Digit runs compare as numbers (then fewer leading zeros first), other characters case-insensitively; a strict weak
/// order (ties broken by plain comparison).
bool natural_less(const std::string& a, const std::string& b);

}  // namespace framepipe::media
