// VideoEncoder on its own: with low_delay every frame is in the file as soon as the next flush comes (no lookahead,
// B-frames or frame threads hold it back), which is what makes flush_interval the most a kill can lose; without it,
// x264 holds frames back; timed flushes follow media time.
#include "media/video_encoder.hpp"
#include "support/media.hpp"

#include <framepipe/error.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>

#include <sys/mman.h>
#include <unistd.h>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

TEST_CASE("video encoder: with low_delay every codec the recorders use holds no frame back") {
    TempDir dir;
    const std::pair<const char*, const char*> cases[] = {
        {"h264", "a.mkv"}, {"h265", "b.mkv"}, {"vp9", "c.webm"}, {"mpeg4", "d.mkv"}, {"mjpeg", "e.mkv"}, {"h264", "f.ts"},
        {"h264", "g.mp4"}};
    for (const auto& [codec, file] : cases) {
        const std::string name = fmt::format("{} in {}", codec, file);
        CAPTURE(name);
        media::VideoEncoder::Options options;
        options.codec = codec;
        options.fps = 25;
        options.low_delay = true;
        options.flush_interval = 1ms;  // a flush after every frame
        options.fragmented = std::string(file).ends_with(".mp4");
        std::unique_ptr<media::VideoEncoder> encoder;
        try {
            encoder = std::make_unique<media::VideoEncoder>(dir / file, options);
        } catch (const ConfigError& e) {
            MESSAGE("not on this system: " << e.what());
            continue;
        }
        for (int i = 0; i < 20; ++i) {
            encoder->write(numbered_frame(i, {320, 240}), std::chrono::milliseconds(40 * i));
            CHECK(encoder->frames_durable() == i + 1);
        }
        CHECK(ffprobe_frame_count(dir / file) >= 19);  // in the file before it is finished (MKV: all but the open block)
        encoder->finish();
        CHECK(ffprobe_frame_count(dir / file) == 20);
    }
}

TEST_CASE("video encoder: without low_delay x264 holds frames back; timed flushes follow media time") {
    TempDir dir;
    media::VideoEncoder::Options options;
    options.fps = 25;
    options.flush_interval = 1ms;
    media::VideoEncoder held(dir / "held.mkv", options);
    for (int i = 0; i < 5; ++i) held.write(numbered_frame(i, {320, 240}), std::chrono::milliseconds(40 * i));
    CHECK(held.frames_durable() == 0);  // lookahead and B-frames: nothing out yet

    options.low_delay = true;
    options.flush_interval = 1s;
    media::VideoEncoder timed(dir / "timed.mkv", options);
    std::vector<std::int64_t> durable;
    for (int i = 0; i < 60; ++i) {
        timed.write(numbered_frame(i, {320, 240}), std::chrono::milliseconds(40 * i));
        durable.push_back(timed.frames_durable());
    }
    // Flushes at the first frame, then when a frame is a second of media time past the last flush: frames 25 and 50.
    CHECK(durable[0] == 1);
    CHECK(durable[24] == 1);
    CHECK(durable[25] == 26);
    CHECK(durable[49] == 26);
    CHECK(durable[50] == 51);
    CHECK(durable[59] == 51);
}

namespace {

// A BGR image whose last byte is the last one before a page that cannot be read: reading past it faults at once
// (libswscale is not instrumented, so AddressSanitizer would not see such a read).
class GuardedImage {
public:
    explicit GuardedImage(cv::Size size) {
        const std::size_t bytes = static_cast<std::size_t>(size.area()) * 3;
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t data_pages = (bytes + page - 1) / page;
        length_ = (data_pages + 1) * page;
        base_ = static_cast<uchar*>(::mmap(nullptr, length_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        REQUIRE(base_ != MAP_FAILED);
        REQUIRE(::mprotect(base_ + data_pages * page, page, PROT_NONE) == 0);
        image = cv::Mat(size, CV_8UC3, base_ + data_pages * page - bytes);
    }
    ~GuardedImage() { ::munmap(base_, length_); }
    GuardedImage(const GuardedImage&) = delete;
    GuardedImage& operator=(const GuardedImage&) = delete;
    cv::Mat image;

private:
    uchar* base_ = nullptr;
    std::size_t length_ = 0;
};

}  // namespace

TEST_CASE("video encoder: an image with nothing readable after its last pixel is encoded, whatever its width") {
    TempDir dir;
    for (const int width : {40, 46, 90, 362}) {
        CAPTURE(width);
        const std::string path = dir / fmt::format("w{}.mkv", width);
        {
            media::VideoEncoder encoder(path, {.codec = "h264"});
            for (int n = 0; n < 3; ++n) {
                GuardedImage guarded({width, 48});
                numbered_frame(n, {width, 48}).copyTo(guarded.image);
                encoder.write(guarded.image, std::chrono::milliseconds(40 * n));
            }
            encoder.finish();
        }
        CHECK(ffprobe_frame_count(path) == 3);
    }
}
