// Outputs that cannot be written, and a transcode killed midway, through the framepipe command: write_video, record
// and event_clips refuse a folder they cannot write (read-only, or a path under a regular file) before the first frame
// with exit 2 and what to do; a killed transcode leaves nothing under the final name; event clips on a full disk stop
// by themselves while the recording and the run go on, with the stop and the frames not written in the summary and
// the JSON report.
#include "support/command.hpp"
#include "support/framepipe_command.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A folder no one can write to: a read-only tmpfs when running as root (permission bits do not stop root), else one
// without write permission. Empty when it cannot be made here.
class LockedFolder {
public:
    explicit LockedFolder(const fs::path& path) : path_(path) {
        fs::create_directories(path);
        if (::geteuid() == 0) {
            mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY, "size=64k") == 0;
            ok_ = mounted_;
        } else {
            fs::permissions(path, fs::perms::owner_read | fs::perms::owner_exec);
            ok_ = true;
        }
    }
    ~LockedFolder() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
        else fs::permissions(path_, fs::perms::owner_all);
    }
    [[nodiscard]] bool ok() const { return ok_; }

private:
    fs::path path_;
    bool mounted_ = false;
    bool ok_ = false;
};

}  // namespace

TEST_CASE("outputs that cannot be written are refused before the first frame, with exit 2 and what to do") {
    TempDir dir;
    write_video(dir / "in.mp4", {.frames = 30, .size = {160, 120}});
    std::ofstream(dir / "plain") << "a regular file, not a folder";
    LockedFolder locked(dir.path() / "locked");
    if (!locked.ok()) MESSAGE("cannot make a read-only folder here (root without mount): only paths under a file are tried");
    struct Case {
        std::string args, says;
    };
    std::vector<Case> cases = {
        {fmt::format("run -q '{}edges.yaml' in.mp4 --set encode.path=plain/out.mp4", pipelines()),
         "write_video: cannot create the folder 'plain'"},
        {fmt::format("run -q '{}surveillance.yaml' in.mp4 --set record.dir=plain/rec", pipelines()),
         "record: cannot create the folder 'plain/rec'"},
        {fmt::format("run -q '{}surveillance.yaml' in.mp4 --set clips.dir=plain/clips", pipelines()),
         "event_clips: cannot create the folder 'plain/clips'"}};
    if (locked.ok()) {
        cases.push_back({fmt::format("run -q '{}edges.yaml' in.mp4 --set encode.path=locked/out.mp4", pipelines()),
                         "write_video: cannot write in the folder 'locked'"});
        cases.push_back({fmt::format("run -q '{}surveillance.yaml' in.mp4 --set record.dir=locked", pipelines()),
                         "record: cannot write in the folder 'locked'"});
    }
    for (const Case& c : cases) {
        CAPTURE(c.args);
        const CommandResult r = run_framepipe(c.args, dir);
        CAPTURE(r.err);
        CHECK_FALSE(r.timed_out);
        CHECK(r.code == 2);
        CHECK(r.err.find(c.says) != std::string::npos);
        CHECK(r.err.find("choose a folder you can write to") != std::string::npos);
    }
}

TEST_CASE("write_video killed midway leaves nothing under the final name") {
    TempDir dir;
    write_video(dir / "in.mp4", {.frames = 250, .size = {160, 120}, .fps = 25});
    {
        Process run(framepipe_command_line(
            fmt::format("run -q '{}edges.yaml' '{}' --set source.realtime=true --set encode.path='{}' "
                        "2>'{}'",
                        pipelines(), dir / "in.mp4", dir / "out.mp4", dir / "stderr.txt")));
        const auto until = std::chrono::steady_clock::now() + 60s;  // a safety bound, not a measure
        std::error_code ec;
        while (!(fs::exists(dir / "out.part.mp4") && fs::file_size(dir / "out.part.mp4", ec) > 0) && run.running() &&
               std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(10ms);
        const bool running = run.running();
        run.kill(SIGKILL);
        std::ifstream err(dir / "stderr.txt");
        const std::string said((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
        REQUIRE_MESSAGE(running, "the run ended before it was killed; it said: " << said);
    }
    CHECK(fs::exists(dir / "out.part.mp4"));
    CHECK_FALSE(fs::exists(dir / "out.mp4"));
}

TEST_CASE("event clips on a full disk stop by themselves: the recording and the run go on, and the summary and the "
          "report say what stopped and count the frames not written") {
    TempDir dir;
    const std::string small = dir / "small";
    fs::create_directories(small);
    if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=100k") != 0) {  // detached right after the run
        MESSAGE("cannot mount a tmpfs here; event clips on a full disk are not exercised");
        return;
    }
    std::ofstream(dir / "cam.yaml") << fmt::format(
        "source: {{ fps: 30, frames: 300, width: 320, height: 240 }}\n"
        "stages:\n"
        "  - {{ type: motion, warmup: 5 }}\n"
        "  - {{ type: event_clips, dir: '{}', crf: 5 }}\n"
        "  - {{ type: record, dir: '{}', segment: 5s }}\n",
        small, dir / "rec");
    const CommandResult r =
        run_framepipe(fmt::format("run -q '{}' synthetic --report '{}'", dir / "cam.yaml", dir / "report.json"), dir);
    ::umount2(small.c_str(), MNT_DETACH);
    CAPTURE(r.out);
    CAPTURE(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("event_clips: output stopped: event clips stopped: ") != std::string::npos);
    CHECK(r.out.find("No space left on device") != std::string::npos);
    const auto report = nlohmann::json::parse(slurp(dir / "report.json"));
    const auto& stages = report["sources"][0]["stages"];
    CHECK(stages[1]["name"] == "event_clips");
    CHECK_FALSE(stages[1]["output_stopped"].is_null());
    CHECK(stages[1]["unwritten"].get<int>() > 0);
    CHECK(stages[2]["name"] == "record");
    CHECK(stages[2]["output_stopped"].is_null());
    CHECK(stages[2]["unwritten"] == 0);
    std::int64_t recorded = 0;
    for (const auto& entry : fs::directory_iterator(dir / "rec")) recorded += ffprobe_frame_count(entry.path().string());
    CHECK(recorded == 300);
}
