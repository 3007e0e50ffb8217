// Nothing hangs: a FIFO without a writer, a server that accepts and never answers, and a slow encoder still being
// drained all give way to Ctrl-C; the second Ctrl-C finalises what it can at once and counts what it gave up.
#include "support/command.hpp"
#include "support/eventually.hpp"
#include "support/framepipe_command.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <csignal>
#include <functional>
#include <optional>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct InterruptedRun {
    std::optional<int> code;  // nullopt: still running at the limit (killed)
    std::string out, err;
};

// Starts `framepipe ARGS` in `dir`, waits until `ready(process)` holds (the state the test interrupts), sends `signals`
// SIGINTs 300 ms apart, and waits at most `limit` for it to end.
InterruptedRun interrupt(const TempDir& dir, const std::string& args, int signals,
                         std::function<bool(const Process&)> ready, std::chrono::seconds limit = 30s) {
    Process process(framepipe_command_line(args + " > out.txt 2> err.txt"), dir.path());
    REQUIRE(eventually([&] { return ready(process); }));
    for (int i = 0; i < signals; ++i) {
        if (i > 0) std::this_thread::sleep_for(300ms);
        process.kill(SIGINT, false);
    }
    InterruptedRun outcome;
    outcome.code = process.wait_for(limit);
    if (!outcome.code) process.kill(SIGKILL);
    outcome.out = slurp(dir / "out.txt");
    outcome.err = slurp(dir / "err.txt");
    return outcome;
}

}  // namespace

TEST_CASE("interrupts: Ctrl-C while a FIFO waits for its writer ends the run, saying nothing was processed") {
    TempDir dir;
    REQUIRE(::mkfifo((dir / "feed.mkv").c_str(), 0600) == 0);
    std::ofstream(dir / "copy.yaml") << "stages:\n  - { type: write_video, path: out.mp4 }\n";
    // Interrupted once it waits in the FIFO's open.
    const InterruptedRun r =
        interrupt(dir, "run -q copy.yaml feed.mkv", 1, [](const Process& p) { return p.has_open("feed.mkv"); });
    REQUIRE(r.code.has_value());
    CHECK(*r.code == 1);
    CHECK(r.err.find("'feed.mkv': stopped while opening") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out.mp4"));
}

TEST_CASE("interrupts: Ctrl-C while a server accepts the connection and never answers ends the run long before its "
          "open timeout") {
    TempDir dir;
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 8) == 0);  // connections complete in the kernel; nothing is ever sent back
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    std::ofstream(dir / "view.yaml") << "stages:\n  - { type: \"null\" }\n";
    int accepted = -1;
    const InterruptedRun r =
        interrupt(dir,
                  fmt::format("run -q view.yaml http://127.0.0.1:{}/cam.mjpg --set source.open_timeout=1h "
                              "--set source.reconnect=false",
                              ntohs(address.sin_port)),
                  1, [&](const Process&) {  // interrupted once its connection is accepted
                      pollfd waiting{.fd = listener, .events = POLLIN};
                      if (::poll(&waiting, 1, 0) != 1) return false;
                      accepted = ::accept(listener, nullptr, nullptr);
                      return accepted >= 0;
                  });
    if (accepted >= 0) ::close(accepted);
    ::close(listener);
    REQUIRE(r.code.has_value());  // an open that waited for its timeout would still be running (1 hour)
    CHECK(*r.code == 1);
    CHECK(r.err.find("stopped while opening") != std::string::npos);
}

TEST_CASE(
    "interrupts: a second Ctrl-C while a slow encoder drains finalises the file at once, playable, and counts "
    "the frames it gave up") {
    // x264's veryslow lookahead keeps dozens of frames to encode in the drain after the first Ctrl-C (over a second at
    // 640x360). The input is long enough that the encoder is still busy when the first Ctrl-C comes on a fast machine
    // (with 120 frames, one encoded them all within the 2 s below, and both signals came after a clean end).
    // Not 720p: there one frame's encode, and closing x264's frame threads, took so long on a loaded 2-core machine
    // that the 2 s hard exit after the second Ctrl-C came first.
    // The encoder sees the abort between two of its calls into x264, and on a machine starved of processor time one
    // call can outlast the 2 s: the hard exit then comes first, as it must, and the file stays slow.part.mp4 (seen
    // once, in a fresh clone's first test run beside the fleet tests). That measures the machine, not this behaviour,
    // so a run the hard exit ended is tried again, up to 3 times.
    std::optional<TempDir> attempt_dir;
    InterruptedRun r;
    for (int attempt = 1; attempt <= 3; ++attempt) {
        attempt_dir.emplace();
        const TempDir& dir = *attempt_dir;
        std::ofstream(dir / "slow.yaml") << "stages:\n  - { type: write_video, path: slow.mp4, preset: veryslow }\n";
        r = interrupt(dir,
                      "run -q slow.yaml synthetic --set source.width=640 --set source.height=360 "
                      "--set source.frames=1200",
                      2, [started = std::optional<std::chrono::steady_clock::time_point>()](const Process& p) mutable {
                          // Once the encoder has its output open, 2 s more to take dozens of frames into its
                          // lookahead: then the drain after the first Ctrl-C is long.
                          if (!started && p.has_open("slow.part.mp4")) started = std::chrono::steady_clock::now();
                          return started && std::chrono::steady_clock::now() - *started >= 2s;
                      });
        if (r.err.find("did not finish within 2 s") == std::string::npos) break;
        MESSAGE("attempt " << attempt << " of 3: the 2 s hard exit came before the encoder returned");
    }
    const TempDir& dir = *attempt_dir;
    REQUIRE(r.code.has_value());
    CHECK(*r.code != 0);  // frames were given up on request: not a clean end
    CHECK(r.err.find("did not finish within 2 s") == std::string::npos);
    CHECK(r.err.find("discarding the frames in flight") != std::string::npos);
    // The file was finalised and plays; or, aborted before x264 gave out a frame, there is no file (not an empty one).
    const bool written = fs::exists(dir / "slow.mp4");
    const std::int64_t in_file = written ? ffprobe_frame_count(dir / "slow.mp4") : 0;
    CHECK(in_file >= (written ? 1 : 0));
    CHECK_FALSE(fs::exists(dir / "slow.part.mp4"));
    // Every frame write_video passed on is in the file, or counted as not written (what the encoder still held).
    const std::int64_t delivered = count_before(r.out, " delivered,");
    CHECK(delivered > 0);
    CHECK(in_file + count_before(r.out, " frame(s) not written to its output") == delivered);
}

TEST_CASE("interrupts: one Ctrl-C delivered twice at once (to the process and to its group, as timeout(1) sends it) is "
          "one interrupt: the frames in flight are finished and every delivered frame is in the file") {
    TempDir dir;
    Process process(fmt::format("'{}' run -q '{}edges.yaml' synthetic --set source.frames=0 "
                                "--set source.pattern=counter --set encode.path=endless.mp4 > out.txt 2> err.txt",
                                FRAMEPIPE_BINARY, pipelines()),
                    dir.path());
    REQUIRE(eventually([&] { return process.has_open("endless.part.mp4"); }));
    ::kill(process.pid(), SIGINT);     // the process...
    process.kill(SIGINT, false);       // ...and its group, microseconds later
    const std::optional<int> code = process.wait_for(30s);
    REQUIRE(code.has_value());
    CHECK(*code == 0);  // stopped on request, everything finished: a clean end
    const std::string out = slurp(dir / "out.txt");
    const std::string err = slurp(dir / "err.txt");
    CHECK(err.find("discarding") == std::string::npos);
    REQUIRE(out.find(" delivered") != std::string::npos);
    const std::int64_t delivered = count_before(out, " delivered");
    CHECK(delivered > 0);
    CHECK(ffprobe_frame_count(dir / "endless.mp4") == delivered);
}
