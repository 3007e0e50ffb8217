// A write that fails while the run goes (a file size limit, as a full disk would): exit 1, the cause said first on
// stderr, naming the stage, the frame and the file, and no half file under the final name.
#include "support/command.hpp"
#include "support/media.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("write failures: a video write that fails mid-run ends it with exit 1 and the cause first on stderr") {
    TempDir dir;
    std::ofstream(dir / "big.yaml") << "stages:\n  - { type: write_video, path: big.mp4, crf: 0, preset: ultrafast }\n";
    // 100 KiB per file: lossless 640x360 frames pass it within a few frames. SIGXFSZ is ignored so the write fails
    // with EFBIG instead of killing the process.
    const CommandResult r = run_bounded(
        fmt::format("trap '' XFSZ; ulimit -f 100; '{}' run -q big.yaml synthetic --set source.frames=300", FRAMEPIPE_BINARY),
        dir.path(), 60s);
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.code == 1);
    const std::string first_line = r.err.substr(0, r.err.find('\n'));
    CHECK(first_line.rfind("error: synthetic: stage 'write_video', frame ", 0) == 0);
    CHECK(first_line.find("big.part.mp4': cannot write to the file: File too large") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "big.mp4"));
    CHECK(r.out.find("error: synthetic: stage 'write_video'") != std::string::npos);  // and in the summary
}
