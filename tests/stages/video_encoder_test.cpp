// VideoEncoder on its own: with low_delay every frame is in the file as soon as the next flush comes (no lookahead,
// B-frames or frame threads hold it back), which is what makes flush_interval the most a kill can lose; without it,
// x264 holds frames back; timed flushes follow media time.
#include "media/video_encoder.hpp"
#include "support/media.hpp"

#include <framepipe/error.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>

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
