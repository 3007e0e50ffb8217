// record with codec: copy: the source's compressed packets written untouched, in crash-safe segments that start on
// keyframes. Checked against the source with ffprobe: the bytes of every packet, in order, across segment boundaries.
#include "media/natural_order.hpp"
#include "support/media.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

using namespace framepipe;
using namespace framepipe::test;
namespace fs = std::filesystem;

namespace {

// Closed segments, oldest first.
std::vector<fs::path> segments_in(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().filename().string().find(".part.") == std::string::npos) out.push_back(entry.path());
    std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
        return media::natural_less(a.stem().string(), b.stem().string());
    });
    return out;
}

RunReport record_by_copy(const std::string& input, const fs::path& dir, const std::string& container) {
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}))
        .add(make_stage("record", {{"dir", dir.string()}, {"codec", "copy"}, {"segment", "2s"}, {"container", container}}),
             {}, std::string(kFromPackets))
        .add(make_stage("null"), {}, std::string(kFromSource));  // pictures too: the decoder shares the packets
    return pipeline.run();
}

}  // namespace

TEST_CASE("record codec: copy writes every packet of an H.264 stream with B-frames untouched and in order, in segments "
          "that each start on a keyframe") {
    TempDir dir;
    const std::string input = dir / "camera.mkv";
    write_video(input, {.frames = 250, .size = {320, 240}, .fps = 25,
                        .codec = "-c:v libx264 -preset veryfast -bf 3 -g 25 -pix_fmt yuv420p"});
    const std::vector<std::string> source_packets = ffprobe_packets(input);
    REQUIRE(source_packets.size() == 250);

    for (const std::string container : {"mkv", "mp4"}) {
        CAPTURE(container);
        const fs::path rec = dir.path() / ("rec-" + container);
        const RunReport report = record_by_copy(input, rec, container);
        REQUIRE(report.ok());
        CHECK(report.balanced());
        const auto segments = segments_in(rec);
        CHECK(segments.size() == 5);  // 10 s in 2 s segments, a keyframe every second
        std::vector<std::string> written;
        for (const fs::path& segment : segments) {
            const std::vector<std::string> packets = ffprobe_packets(segment.string());
            REQUIRE_FALSE(packets.empty());
            CHECK(packets.front().rfind("K", 0) == 0);  // starts on a keyframe
            CHECK(ffprobe_frame_count(segment.string()) == static_cast<std::int64_t>(packets.size()));  // all decode
            written.insert(written.end(), packets.begin(), packets.end());
        }
        CHECK(written == source_packets);
        const StageReport& record = report.sources.at(0).stages.at(2);
        REQUIRE(record.name == "record");
        CHECK(record.processed == 250);
        CHECK(record.unwritten == 0);
    }

    // MPEG-TS carries H.264 in Annex B: libavformat converts the packets' framing (their pictures are untouched), so
    // here every frame must be there and decode, in segments that start on keyframes.
    const fs::path rec = dir.path() / "rec-ts";
    REQUIRE(record_by_copy(input, rec, "ts").ok());
    std::int64_t frames = 0;
    for (const fs::path& segment : segments_in(rec)) {
        CHECK(ffprobe_packets(segment.string()).front().rfind("K", 0) == 0);
        frames += ffprobe_frame_count(segment.string());
    }
    CHECK(segments_in(rec).size() == 5);
    CHECK(frames == 250);
}

TEST_CASE("record codec: copy on decoded pictures stops the run with an error that says to take packets") {
    TempDir dir;
    const std::string input = dir / "clip.mkv";
    write_video(input, {.frames = 10});
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}))
        .add(make_stage("record", {{"dir", dir / "rec"}, {"codec", "copy"}}));
    const RunReport report = pipeline.run();
    REQUIRE_FALSE(report.ok());
    CHECK(report.error->message.find("add `from: packets`") != std::string::npos);
}

TEST_CASE("record codec: copy refuses a frame rate of its own: it keeps the source's timing") {
    CHECK_THROWS_WITH_AS(make_stage("record", {{"codec", "copy"}, {"fps", "10"}}),
                         doctest::Contains("keeps the source's timing"), ConfigError);
}
