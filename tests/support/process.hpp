#pragma once
// Real processes for tests: a stream server (Debian's ffmpeg) started, killed and restarted by the test; a free
// loopback port to serve on.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>

namespace framepipe::test {

/// A child process running `command` through /bin/sh (so the test can write it as one line). Killed (SIGKILL) and
/// reaped when the object goes, if still running.
class Process {
public:
    /// Starts `command`, in `dir` when given.
    explicit Process(const std::string& command, const std::filesystem::path& dir = {});
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    /// Sends a signal to the process group; with wait, reaps it and returns its exit status (-signal if killed).
    int kill(int signal, bool wait = true);
    [[nodiscard]] bool running();
    /// Waits for the process to end by itself; returns its exit status.
    int wait();
    /// Waits at most `limit` for the process to end by itself: its exit status, or nullopt if it is still running.
    std::optional<int> wait_for(std::chrono::milliseconds limit);
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    /// True if the process has a file open whose path contains `fragment` (read from /proc/PID/fd): how a test knows
    /// the process got as far as opening its input or output, without waiting a fixed time.
    [[nodiscard]] bool has_open(const std::string& fragment) const;

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

/// A TCP port on 127.0.0.1 nothing listens on right now.
int free_port();

}  // namespace framepipe::test
