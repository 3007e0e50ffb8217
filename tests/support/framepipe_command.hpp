#pragma once
// The framepipe command as a user runs it, bounded in time, and the shipped pipelines. For test targets that define
// FRAMEPIPE_BINARY and FRAMEPIPE_SOURCE_DIR (see tests/CMakeLists.txt).

#include "support/command.hpp"
#include "support/media.hpp"

#include <fmt/format.h>

#include <chrono>
#include <string>

namespace framepipe::test {

/// The repository's pipelines/ folder, with a trailing slash.
inline std::string pipelines() { return std::string(FRAMEPIPE_SOURCE_DIR) + "/pipelines/"; }

/// The shell command line `'BINARY' ARGS`.
inline std::string framepipe_command_line(const std::string& args) {
    return fmt::format("'{}' {}", FRAMEPIPE_BINARY, args);
}

/// Runs `framepipe ARGS` (through the shell, so ARGS may quote) in `dir`, killed after `limit`.
inline CommandResult run_framepipe(const std::string& args, const TempDir& dir,
                                   std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    return run_bounded(framepipe_command_line(args), dir.path(), limit);
}

}  // namespace framepipe::test
