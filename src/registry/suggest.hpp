#pragma once
// "Did you mean" for names the user typed (stage types, options, keys, commands): inside the library and for the
// command; not public API.

#include <string>
#include <string_view>
#include <vector>

namespace framepipe::detail {

/// " (did you mean 'KNOWN'?)" for the known name closest to `given` (at most two edits away), or "".
std::string did_you_mean(std::string_view given, const std::vector<std::string>& known);

/// The message for a stage type that is not in the catalogue: the closest type, every type, and where they are listed.
std::string unknown_stage_type(std::string_view type);

}  // namespace framepipe::detail
