#pragma once
// Commands run as a user runs them, bounded in time: every case of the reliability suite must end, whatever the code
// under test does, so a hang shows as a failed check (timed_out) instead of a stuck test run.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace framepipe::test {

struct CommandResult {
    int code = -1;           // exit status; -N when killed by signal N
    bool timed_out = false;  // still running after the limit: killed with SIGKILL
    std::string out;
    std::string err;
    std::chrono::milliseconds took{};
};

/// Runs `command` through /bin/sh in `dir` with stdout and stderr captured; SIGKILLs its process group after `limit`.
CommandResult run_bounded(const std::string& command, const std::filesystem::path& dir,
                          std::chrono::milliseconds limit = std::chrono::seconds(120));

/// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::filesystem::path& path);

/// Whether `part` occurs in `text`.
inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// The number written just before the first `words` in a run's summary ("3722" for " delivered," in "3722 delivered,");
/// 0 when `words` is not there.
std::int64_t count_before(const std::string& summary, const std::string& words);

}  // namespace framepipe::test
