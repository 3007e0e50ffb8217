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

// One stream's packets ("video" or "audio") out of ffprobe_all_packets, without the stream's name.
std::vector<std::string> of_stream(const std::vector<std::string>& packets, const std::string& type) {
    std::vector<std::string> out;
    for (const std::string& p : packets)
        if (p.rfind(type + ",", 0) == 0) out.push_back(p.substr(type.size() + 1));
    return out;
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

TEST_CASE("record codec: copy carries the source's audio: every audio and video packet untouched and in order across "
          "segment boundaries, each segment starting on a keyframe") {
    TempDir dir;
    const std::string input = dir / "camera.mkv";
    write_video(input, {.frames = 250, .size = {320, 240}, .fps = 25,
                        .codec = "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 -c:v libx264 -preset "
                                 "veryfast -bf 3 -g 25 -pix_fmt yuv420p -c:a aac -b:a 64k"});
    const std::vector<std::string> source = ffprobe_all_packets(input);
    const std::vector<std::string> source_video = of_stream(source, "video");
    REQUIRE(source_video.size() == 250);
    // Audio rides on the video packet after it: audio after the file's last video packet has none to ride on.
    std::size_t last_video = 0;
    for (std::size_t i = 0; i < source.size(); ++i)
        if (source[i].rfind("video,", 0) == 0) last_video = i;
    const std::vector<std::string> source_audio =
        of_stream({source.begin(), source.begin() + static_cast<std::ptrdiff_t>(last_video)}, "audio");
    REQUIRE(source_audio.size() > 400);  // 48 kHz AAC: 1024 samples a packet, ~47 a second

    for (const std::string container : {"mkv", "mp4"}) {
        CAPTURE(container);
        const fs::path rec = dir.path() / ("rec-" + container);
        const RunReport report = record_by_copy(input, rec, container);
        REQUIRE(report.ok());
        CHECK(report.balanced());
        const auto segments = segments_in(rec);
        CHECK(segments.size() == 5);
        std::vector<std::string> video, audio;
        for (const fs::path& segment : segments) {
            const std::vector<std::string> packets = ffprobe_all_packets(segment.string());
            const std::vector<std::string> v = of_stream(packets, "video"), a = of_stream(packets, "audio");
            REQUIRE_FALSE(v.empty());
            CHECK(v.front().rfind("K", 0) == 0);
            CHECK_FALSE(a.empty());  // every segment has sound
            video.insert(video.end(), v.begin(), v.end());
            audio.insert(audio.end(), a.begin(), a.end());
        }
        CHECK(video == source_video);
        CHECK(audio == source_audio);
    }
}

TEST_CASE("record codec: copy into a container that cannot hold the camera's audio (G.711 in MP4) writes the video "
          "alone, every packet") {
    TempDir dir;
    const std::string input = dir / "camera.mkv";
    write_video(input, {.frames = 50, .size = {320, 240}, .fps = 25,
                        .codec = "-f lavfi -i sine=frequency=440:sample_rate=8000:duration=2 -c:v libx264 -preset "
                                 "veryfast -g 25 -pix_fmt yuv420p -c:a pcm_mulaw"});
    REQUIRE(ffprobe_packet_count(input, "a:0") > 0);
    const fs::path rec = dir.path() / "rec";
    const RunReport report = record_by_copy(input, rec, "mp4");
    REQUIRE(report.ok());
    const auto segments = segments_in(rec);
    REQUIRE(segments.size() == 1);
    CHECK(ffprobe_packets(segments[0].string()) == ffprobe_packets(input));
    CHECK(ffprobe_packet_count(segments[0].string(), "a:0") == 0);
    // MKV holds it.
    const fs::path mkv = dir.path() / "rec-mkv";
    REQUIRE(record_by_copy(input, mkv, "mkv").ok());
    CHECK(ffprobe_packet_count(segments_in(mkv).at(0).string(), "a:0") > 0);
}

TEST_CASE("a pipeline whose stages all take packets decodes nothing: the source's decode stages are left out") {
    TempDir dir;
    const std::string input = dir / "camera.mkv";
    write_video(input, {.frames = 50});
    const auto stage_names = [&](bool with_pictures) {
        Pipeline pipeline;
        Chain& chain = pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input}));
        chain.add(make_stage("record", {{"dir", dir / "rec"}, {"codec", "copy"}}), {}, std::string(kFromPackets))
            .add(make_stage("null"));  // after record: packets too
        if (with_pictures) chain.add(make_stage("blur"), {}, std::string(kFromSource));
        const RunReport report = pipeline.run();
        REQUIRE(report.ok());
        CHECK(report.balanced());
        std::vector<std::string> names;
        for (const StageReport& stage : report.sources.at(0).stages) {
            names.push_back(stage.name);
            CHECK(stage.processed == 50);
        }
        return names;
    };
    CHECK(stage_names(false) == std::vector<std::string>{"record", "null"});
    CHECK(stage_names(true) == std::vector<std::string>{"decode", "convert", "record", "null", "blur"});
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
