#include "command.hpp"

#include "process.hpp"

#include <fmt/format.h>

#include <fstream>
#include <signal.h>
#include <sstream>
#include <thread>

namespace framepipe::test {

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::int64_t count_before(const std::string& summary, const std::string& words) {
    const auto at = summary.find(words);
    if (at == std::string::npos || at == 0) return 0;
    const auto start = summary.rfind(' ', at - 1) + 1;  // npos + 1 == 0: the number starts the text
    return std::stoll(summary.substr(start, at - start));
}

CommandResult run_bounded(const std::string& command, const std::filesystem::path& dir,
                          std::chrono::milliseconds limit) {
    static int counter = 0;
    const auto tag = fmt::format("{}-{}", ::getpid(), ++counter);
    const auto out = std::filesystem::temp_directory_path() / fmt::format("framepipe-cmd-{}.out", tag);
    const auto err = std::filesystem::temp_directory_path() / fmt::format("framepipe-cmd-{}.err", tag);
    CommandResult result;
    const auto started = std::chrono::steady_clock::now();
    {
        const std::string script =
            fmt::format("cd '{}' && ( {} ) > '{}' 2> '{}'", dir.string(), command, out.string(), err.string());
        std::string quoted = "'";
        for (const char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        Process process("/bin/sh -c " + quoted + "'");
        const std::optional<int> code = process.wait_for(limit);
        if (code) {
            result.code = *code;
        } else {
            result.timed_out = true;
            result.code = process.kill(SIGKILL);
        }
    }
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    result.out = slurp(out);
    result.err = slurp(err);
    std::error_code ec;
    std::filesystem::remove(out, ec);
    std::filesystem::remove(err, ec);
    return result;
}

}  // namespace framepipe::test
