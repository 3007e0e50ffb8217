// libFuzzer target: a video file, opened the way a video input is: VideoSource opens and probes it with libavformat
// and reads its packets, and its decode stages (libavcodec decode, then libswscale convert to BGR) run on them, as the
// engine runs them (held frames flushed in order at the end, every opened stage closed). For inputs of odd size the
// planner's fused stage takes convert's place (convert+blur+resize to half size: the shrink filter, the clamp search
// and corrections, the strips, and its fallback to the declared stages for pictures it does not take).
//
// Input: the bytes of the file (written to a temporary file without an extension: FFmpeg picks the demuxer by content).
//
// Per input the work is bounded with framepipe's own means: at most kMaxPackets packets, pictures of at most kMaxPixels
// (the source's max_pixels), and the source's stop token, which FFmpeg's interrupt callback polls while it opens and
// reads, requested after kDeadline, as a Ctrl-C would request it.
//
// Contract checked: open() returns or throws framepipe::Error (ConfigError for a file that is not video); read()
// delivers packets, then end_of_stream, or throws Error; the stages pass, drop or hold each frame or reject it with
// BadFrame, and a frame they pass is a BGR picture. Any other exception escapes (libFuzzer reports it), and a broken
// contract aborts.

#include "engine/stage_fusion.hpp"
#include "media/video_decode.hpp"

#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>
#include <framepipe/stage.hpp>

#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace framepipe;

constexpr int kMaxPackets = 24;
constexpr std::int64_t kMaxPixels = std::int64_t{1} << 20;  // decoded pictures stay small (and fast)
constexpr auto kDeadline = std::chrono::seconds(2);

std::string g_file;

[[noreturn]] void broken(const std::string& what) {
    std::fprintf(stderr, "contract broken: %s\n", what.c_str());
    std::abort();
}

// Requests the current input's stop when its deadline passes. One thread for the whole run.
class Watchdog {
public:
    Watchdog() : thread_([this](std::stop_token quit) { watch(quit); }) {}

    void arm(std::stop_source stop) {
        const std::lock_guard lock(mutex_);
        stop_ = std::move(stop);
        due_ = std::chrono::steady_clock::now() + kDeadline;
        armed_ = true;
        changed_.notify_one();
    }
    void disarm() {
        const std::lock_guard lock(mutex_);
        armed_ = false;
    }

private:
    void watch(std::stop_token quit) {
        std::unique_lock lock(mutex_);
        while (!quit.stop_requested()) {
            if (!armed_) {
                changed_.wait(lock, quit, [&] { return armed_; });
                continue;
            }
            if (changed_.wait_until(lock, quit, due_, [&] { return !armed_; })) continue;
            if (armed_ && std::chrono::steady_clock::now() >= due_) {
                stop_.request_stop();
                armed_ = false;
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable_any changed_;
    std::stop_source stop_{std::nostopstate};
    std::chrono::steady_clock::time_point due_{};
    bool armed_ = false;
    std::jthread thread_;  // last: starts after the members it uses
};

Watchdog* g_watchdog = nullptr;

struct StageSlot {
    std::unique_ptr<Stage> stage;
    StageHealth health;
    bool opened = false;
};

// A frame a stage passed must be what the next one expects; after convert, a BGR picture.
void check_passed(const Frame& frame, std::size_t stage_index, std::size_t stages) {
    if (stage_index + 1 < stages) {
        if (frame.format != PixelFormat::native) broken("decode passed a frame without a decoded picture");
        return;
    }
    if (frame.format != PixelFormat::bgr || frame.image.type() != CV_8UC3 || frame.image.empty())
        broken("convert passed a frame that is not a BGR picture");
}

// A stage failed with framepipe::Error: the engine ends the run (closing every opened stage).
struct RunFailed {};

// Runs `frame` through stages[from..]: returns the outcome of the stage that ended its way (pass at the end). Throws
// RunFailed when a stage throws Error.
Outcome run_from(std::vector<std::unique_ptr<StageSlot>>& stages, std::size_t from, Frame& frame) {
    for (std::size_t i = from; i < stages.size(); ++i) {
        Outcome outcome;
        try {
            outcome = stages[i]->stage->process(frame);
        } catch (const BadFrame& e) {
            if (std::strlen(e.what()) == 0) broken("BadFrame without a reason");
            return Outcome::reject;
        } catch (const Error& e) {
            if (std::strlen(e.what()) == 0) broken("Error without a message");
            throw RunFailed{};
        }
        if (outcome != Outcome::pass) return outcome;
        check_passed(frame, i, stages.size());
    }
    return Outcome::pass;
}

// Reads at most kMaxPackets packets and runs each through the stages; then flushes what decode held, oldest first.
void feed(VideoSource& source, std::vector<std::unique_ptr<StageSlot>>& stages, std::stop_token stop) {
    std::vector<std::unique_ptr<Frame>> held;
    const std::size_t max_held = stages[0]->stage->traits().max_held;
    for (int n = 0; n < kMaxPackets; ++n) {
        auto frame = std::make_unique<Frame>();
        frame->sequence = static_cast<std::uint64_t>(n);
        ReadResult result;
        try {
            result = source.read(*frame, stop);
        } catch (const Error&) {
            break;
        }
        if (result == ReadResult::end_of_stream) break;
        if (frame->format != PixelFormat::encoded) broken("a video source delivered a frame that is not a packet");
        const Outcome outcome = run_from(stages, 0, *frame);
        if (outcome == Outcome::hold) {
            held.push_back(std::move(frame));
            if (held.size() > max_held) broken("decode held more frames than its max_held");
        }
    }
    for (std::unique_ptr<Frame>& frame : held)
        if (stages[0]->stage->flush(*frame)) {
            check_passed(*frame, 0, stages.size());
            (void)run_from(stages, 1, *frame);
        }
}

void decode(VideoSource& source, const SourceInfo& info, std::stop_token stop, bool planned) {
    std::vector<std::unique_ptr<StageSlot>> stages;
    for (std::unique_ptr<Stage>& stage : source.decode_stages()) {
        stages.push_back(std::make_unique<StageSlot>());
        stages.back()->stage = std::move(stage);
    }
    if (stages.size() != 2) broken("a video source brings decode and convert");
    if (planned) {
        std::vector<std::unique_ptr<Stage>> run;
        run.push_back(std::move(stages[1]->stage));
        run.push_back(make_stage("blur", {{"ksize", "5"}}));
        run.push_back(make_stage("resize", {{"scale", "0.5"}}));  // a shrink whatever the size
        std::optional<detail::Fusion> fusion = detail::fuse(run, true, /*ends_branch=*/false);
        if (!fusion || fusion->replaces != 3) broken("the planner did not fuse convert, blur and resize");
        stages[1]->stage = std::move(fusion->stage);
    }
    try {
        for (std::size_t i = 0; i < stages.size(); ++i) {
            StageContext context;
            context.source = info;
            context.position = i;
            context.health = &stages[i]->health;
            stages[i]->stage->open(context);  // Error: the run fails before its first frame
            stages[i]->opened = true;
        }
        feed(source, stages, stop);
    } catch (const RunFailed&) {
    } catch (const Error& e) {
        if (std::strlen(e.what()) == 0) broken("Error without a message");
    }
    for (std::unique_ptr<StageSlot>& slot : stages)
        if (slot->opened) slot->stage->close();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/framepipe-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("mkdtemp");
        std::abort();
    }
    g_file = pattern + "/input";
    std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(std::filesystem::path(g_file).parent_path(), ec);
    });
    g_watchdog = new Watchdog;  // lives as long as the process: libFuzzer may exit from any thread
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        std::ofstream out(g_file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out) broken("cannot write " + g_file);
    }
    std::stop_source stop;
    g_watchdog->arm(stop);
    {
        VideoSource source({.path = g_file, .max_pixels = kMaxPixels});
        SourceInfo info;
        bool opened = true;
        try {
            info = source.open(stop.get_token());
        } catch (const Error&) {
            opened = false;
        }
        if (opened) {
            decode(source, info, stop.get_token(), size % 2 == 1);
            source.close();
        }
    }
    g_watchdog->disarm();
    return 0;
}
