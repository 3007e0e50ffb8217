// VideoSource with its decode and convert stages, on videos encoded by ffmpeg at test time.
#include "media/stream_name.hpp"
#include "support/media.hpp"
#include "support/recorders.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <fstream>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;

namespace {

struct Decoded {
    RunReport report;
    std::vector<NumberRecorder::Seen> seen;
    [[nodiscard]] std::vector<int> numbers() const {
        std::vector<int> out;
        for (const auto& s : seen) out.push_back(s.number);
        return out;
    }
};

// Runs a file through its decode stages into a recorder; what the recorder saw is copied out before the pipeline
// (which owns the recorder) goes away.
Decoded decode_all(const std::string& path, VideoSource::Options options = {}, const Clock* clock = nullptr) {
    options.path = path;
    auto sink = std::make_unique<NumberRecorder>();
    NumberRecorder& recorder = *sink;
    Pipeline pipeline({.clock = clock});
    pipeline.add_source(std::make_unique<VideoSource>(options)).add(std::move(sink));
    Decoded decoded{pipeline.run(), {}};
    decoded.seen = recorder.seen();
    return decoded;
}

}  // namespace

TEST_CASE("video_source: H.264 with B-frames decodes every frame once, in order, through decode and convert stages") {
    TempDir dir;
    const std::string path = dir / "bframes.mp4";
    write_video(path, {.frames = 60, .size = {320, 240}, .fps = 25});
    const Decoded decoded = decode_all(path);
    const RunReport& report = decoded.report;
    REQUIRE(report.ok());
    CHECK(decoded.numbers() == count_up(60));
    const SourceReport& s = report.sources.at(0);
    CHECK(s.name == "bframes.mp4");
    REQUIRE(s.stages.size() == 3);
    CHECK(s.stages[0].name == "decode");
    CHECK(s.stages[1].name == "convert");
    CHECK(s.stages[0].flushed > 0);  // B-frames: the decoder held frames back and gave them up at the end
    CHECK(s.captured == 60);
    CHECK(s.delivered == 60);
    CHECK(report.balanced());
    const auto seen = decoded.seen;
    CHECK(seen.front().size == cv::Size(320, 240));
    for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].media_time > seen[i - 1].media_time);
    CHECK(std::chrono::duration<double>(seen.back().media_time).count() == doctest::Approx(59 / 25.0).epsilon(0.01));
}

TEST_CASE("video_source: MJPEG in AVI decodes in parallel and stays in order") {
    TempDir dir;
    const std::string path = dir / "mjpeg.avi";
    write_video(path, {.frames = 40, .size = {320, 240}, .codec = "-c:v mjpeg -q:v 3"});
    const Decoded decoded = decode_all(path);
    const RunReport& report = decoded.report;
    REQUIRE(report.ok());
    CHECK(decoded.numbers() == count_up(40));
    CHECK(report.sources.at(0).stages.at(0).parallel);
}

TEST_CASE("video_source: other codecs and containers FFmpeg reads (VP9 in WebM, MPEG-4 in MKV, FFV1)") {
    TempDir dir;
    const std::pair<const char*, const char*> cases[] = {
        {"vp9.webm", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 1M"},
        {"mpeg4.mkv", "-c:v mpeg4 -q:v 3"},
        {"ffv1.mkv", "-c:v ffv1"},
    };
    for (auto [name, codec] : cases) {
        const std::string file = name;
        CAPTURE(file);
        const std::string path = dir / name;
        write_video(path, {.frames = 20, .size = {320, 240}, .codec = codec});
        const Decoded decoded = decode_all(path);
        const RunReport& report = decoded.report;
        REQUIRE(report.ok());
        const auto numbers = decoded.numbers();
        CAPTURE(fmt::format("{}", fmt::join(numbers, " ")));
        CHECK(numbers == count_up(20));
    }
}

TEST_CASE("video_source: probe reports what the file holds") {
    TempDir dir;
    const std::string path = dir / "probe.mp4";
    write_video(path, {.frames = 50, .size = {320, 240}, .fps = 25});
    const VideoSource::Probe probe = VideoSource::probe(path);
    CHECK(probe.codec == "h264");
    CHECK(probe.width == 320);
    CHECK(probe.height == 240);
    CHECK(probe.fps == doctest::Approx(25));
    CHECK(probe.duration == doctest::Approx(2.0).epsilon(0.05));
    CHECK_FALSE(probe.intra_only);
}

TEST_CASE("video_source: a missing file, a folder and a file that is not a video are configuration errors") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(VideoSource::probe(dir / "nope.mp4"),
                         doctest::Contains("no such file; check the path"), ConfigError);
    CHECK_THROWS_WITH_AS(VideoSource::probe(dir.path().string()), doctest::Contains("is a folder"), ConfigError);
    std::ofstream(dir / "notes.mp4") << "this is not a video, just text pretending to be one\n";
    CHECK_THROWS_WITH_AS(VideoSource::probe(dir / "notes.mp4"), doctest::Contains("is not a video FFmpeg can read"),
                         ConfigError);
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = dir / "notes.mp4"}))
        .add(std::make_unique<NumberRecorder>());
    CHECK_THROWS_AS(pipeline.run(), ConfigError);
}

TEST_CASE("video_source: a truncated MKV yields the frames before the cut and ends without an error") {
    TempDir dir;
    const std::string path = dir / "cut.mkv";
    write_video(path, {.frames = 100, .size = {320, 240}, .codec = "-c:v libx264 -preset veryfast -bf 2 -g 10"});
    std::filesystem::resize_file(path, std::filesystem::file_size(path) * 6 / 10);
    const Decoded decoded = decode_all(path);
    const RunReport& report = decoded.report;
    REQUIRE(report.ok());
    const auto numbers = decoded.numbers();
    REQUIRE(numbers.size() > 20);
    CHECK(numbers.size() < 100);
    // What did come out is the start of the video, in order (a damaged last frame may be missing or unreadable).
    for (std::size_t i = 0; i + 1 < numbers.size(); ++i) CHECK(numbers[i] == static_cast<int>(i));
    CHECK(report.balanced());
}

TEST_CASE("video_source: a truncated MP4 (no index) is refused with a message that says why") {
    TempDir dir;
    const std::string path = dir / "cut.mp4";
    write_video(path, {.frames = 50, .size = {320, 240}, .codec = "-c:v libx264 -preset veryfast"});
    std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
    CHECK_THROWS_WITH_AS(VideoSource::probe(path), doctest::Contains("not a video FFmpeg can read"), ConfigError);
}

TEST_CASE("video_source: realtime replay is a live source paced at the file's rate") {
    TempDir dir;
    const std::string path = dir / "paced.mp4";
    write_video(path, {.frames = 20, .size = {160, 120}, .fps = 100});
    // In simulated time: whenever the source waits for a packet's time, the clock moves there (nothing else waits on
    // it), so the run takes exactly the file's own pace in the clock's time and no time for real.
    ManualClock clock;
    std::atomic<bool> done{false};
    std::thread driver([&] {
        while (!done.load())
            if (clock.wait_for_sleepers(1, std::chrono::milliseconds(20))) clock.advance_to_next_wake();
    });
    const Decoded decoded = decode_all(path, {.realtime = true}, &clock);
    done.store(true);
    driver.join();
    const RunReport& report = decoded.report;
    const double seconds = in_seconds(report.wall_time);  // the clock's time
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).live);
    // Drops happen where pictures are independent: after capture (packets; about two seconds of them fit), and after
    // decode and convert, so a slow stage drops decoded pictures rather than packets the decoder needs.
    const auto& edges = report.sources.at(0).edges;
    REQUIRE(edges.size() == 3);
    CHECK(edges[0].overflow == Overflow::drop_oldest);
    CHECK(edges[0].capacity >= 200);
    CHECK(edges[1].overflow == Overflow::block);
    CHECK(edges[2].overflow == Overflow::drop_oldest);
    CHECK(seconds >= 0.15);  // 20 frames at 100 fps cannot arrive faster than 0.19 s (a lower bound, not a timing)
    CHECK(seconds <= 0.19);  // simulated: the clock moved only to packets' times (paced by decode timestamp)
    CHECK(report.balanced());
}

TEST_CASE("video_source: after packets are lost before decoding, the decoder skips to the next keyframe and every "
          "picture it gives is whole") {
    TempDir dir;
    const std::string path = dir / "gop12.mp4";
    write_video(path, {.frames = 30, .size = {320, 240}, .fps = 25,
                       .codec = "-c:v libx264 -preset veryfast -bf 0 -g 12 -pix_fmt yuv420p"});
    VideoSource source({.path = path});
    const SourceInfo info = source.open({});
    std::vector<std::unique_ptr<Stage>> stages = source.decode_stages();
    REQUIRE(stages.size() == 2);
    StageHealth health;
    StageContext context;
    context.source = info;
    context.health = &health;
    for (auto& stage : stages) stage->open(context);

    std::vector<int> numbers;
    int skipped = 0;
    const auto deliver = [&](Frame& frame) {
        REQUIRE(stages[1]->process(frame) == Outcome::pass);
        numbers.push_back(read_number(frame.image));
    };
    Frame frame;
    for (std::uint64_t sequence = 0;; ++sequence) {
        frame.reset_metadata();
        if (source.read(frame, {}) == ReadResult::end_of_stream) break;
        frame.sequence = sequence;
        if (sequence >= 5 && sequence <= 7) continue;  // lost before decoding: 8..11 depend on them
        const Outcome outcome = stages[0]->process(frame);
        if (outcome == Outcome::reject) ++skipped;  // undecodable without their references: rejected, not chosen
        if (outcome == Outcome::pass) deliver(frame);
    }
    for (frame.reset_metadata(); stages[0]->flush(frame); frame.reset_metadata()) deliver(frame);
    for (auto& stage : stages) stage->close();
    source.close();

    std::vector<int> expected = {0, 1, 2, 3, 4};
    for (int n = 12; n < 30; ++n) expected.push_back(n);
    CHECK(numbers == expected);  // nothing between the loss and the keyframe at 12, nothing smeared
    CHECK(skipped == 4);
}

TEST_CASE("video_source: stream URLs are shown without passwords or credential parameters and named by host, port and "
          "path") {
    CHECK(VideoSource::redacted("rtsp://admin:secret@10.0.0.7:554/s1") == "rtsp://admin:***@10.0.0.7:554/s1");
    CHECK(VideoSource::redacted("rtsp://admin:p@ss@10.0.0.7/s1") == "rtsp://admin:***@10.0.0.7/s1");  // '@' in it
    CHECK(VideoSource::redacted("rtsp://admin@10.0.0.7/s1") == "rtsp://admin@10.0.0.7/s1");  // no password
    CHECK(VideoSource::redacted("http://host/a@b?x=c:d@e") == "http://host/a@b?x=c:d@e");  // '@' after the host only
    CHECK(VideoSource::redacted("udp://@239.0.0.1:1234") == "udp://@239.0.0.1:1234");
    CHECK(VideoSource::redacted("clip.mp4") == "clip.mp4");
    // Query parameters whose names look like credentials, in any case; the others and the fragment stay.
    CHECK(VideoSource::redacted("rtsp://u:pw@cam/cam/realmonitor?channel=1&subtype=0&password=pw&user=u") ==
          "rtsp://u:***@cam/cam/realmonitor?channel=1&subtype=0&password=***&user=u");
    CHECK(VideoSource::redacted("https://h/live.m3u8?X-Amz-Signature=ab&X-Amz-Credential=cd&api_key=ef;PWD=gh#t=5") ==
          "https://h/live.m3u8?X-Amz-Signature=***&X-Amz-Credential=***&api_key=***;PWD=***#t=5");
    CHECK(VideoSource::redacted("http://h/v?access_token=a&passwd=b&pass=c&secret=d&auth=e&token") ==
          "http://h/v?access_token=***&passwd=***&pass=***&secret=***&auth=***&token");
    CHECK(VideoSource::redacted("clip.mp4?password=x") == "clip.mp4?password=x");  // a file name, not a URL

    // Anything with a scheme is a stream; a "://" later in a path is not a scheme.
    CHECK(VideoSource::kind_of("rtsp://[::1]/x") == VideoSource::Kind::stream);
    CHECK(VideoSource::kind_of("RTSP://cam/x?a=*") == VideoSource::Kind::stream);
    CHECK(VideoSource::kind_of("srt+udp://cam:9000") == VideoSource::Kind::stream);
    CHECK(VideoSource::kind_of("clips/a://b.mp4") == VideoSource::Kind::file);
    CHECK(VideoSource::kind_of("/dev/video0") == VideoSource::Kind::camera);

    CHECK(media::stream_name("rtsp://u:p@ss@10.0.0.7:554/cam/main") == "10-0-0-7-554_cam_main");
    CHECK(media::stream_name("rtsp://10.0.0.8/stream1") == "10-0-0-8_stream1");
    CHECK(media::stream_name("http://cam:8080/video.mjpg?token=abc") == "cam-8080_video-mjpg");
    CHECK(media::stream_name("udp://@239.0.0.1:1234") == "239-0-0-1-1234");
    CHECK(media::stream_name("rtsp://[::1]:8554/x/") == "_--1_-8554_x");
    CHECK(media::stream_name("rtsp://u:p@").find("p@") == std::string::npos);
}

namespace {

// Keeps a copy of the first frame it sees.
class FirstFrame final : public Stage {
public:
    FirstFrame() : Stage({.name = "first", .needs_ordered_input = true}) {}
    Outcome process(Frame& frame) override {
        if (image.empty()) image = frame.image.clone();
        return Outcome::pass;
    }
    cv::Mat image;
};

cv::Mat first_frame(const std::string& path, bool autorotate) {
    auto sink = std::make_unique<FirstFrame>();
    FirstFrame& first = *sink;
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = path, .autorotate = autorotate}))
        .add(std::move(sink));
    REQUIRE(pipeline.run().ok());
    return first.image;
}

}  // namespace

TEST_CASE("video source: a video with a display rotation (a phone's portrait clip) is turned upright as FFmpeg shows "
          "it, or kept as coded with autorotate off") {
    TempDir dir;
    write_video(dir / "coded.mp4", {.frames = 5, .size = {320, 240}});
    for (const int degrees : {90, 180, 270}) {
        CAPTURE(degrees);
        const std::string rotated = dir / fmt::format("rotated{}.mp4", degrees);
        REQUIRE(run(fmt::format("ffmpeg -v error -y -i '{}' -c copy -metadata:s:v:0 rotate={} '{}'", dir / "coded.mp4",
                                degrees, rotated)) == 0);
        const std::string shown = dir / fmt::format("ffmpeg{}.png", degrees);  // ffmpeg turns pictures upright itself
        REQUIRE(run(fmt::format("ffmpeg -v error -y -i '{}' -frames:v 1 '{}'", rotated, shown)) == 0);
        const cv::Mat expected = cv::imread(shown);
        const cv::Mat upright = first_frame(rotated, true);
        REQUIRE(upright.size() == expected.size());
        CHECK(cv::norm(upright, expected, cv::NORM_L1) / static_cast<double>(upright.total()) < 3.0);
        CHECK(first_frame(rotated, false).size() == cv::Size(320, 240));
    }
}

TEST_CASE(
    "video source: every pixel of a picture whose width is not a multiple of 8 is converted (854x480, the "
    "right-hand 6 columns included)") {
    // swscale's x86 converter works in groups of 8 pixels and leaves the rest of a row unwritten when the row stride
    // has no room for a whole group: the convert stage gives it the room.
    TempDir dir;
    for (const cv::Size size : {cv::Size(854, 480), cv::Size(100, 64), cv::Size(1366, 64)}) {
        CAPTURE(size);
        const std::string path = dir / fmt::format("{}x{}.mp4", size.width, size.height);
        write_video(path, {.frames = 2, .size = size, .draw = [](int, cv::Size s) {
                               return cv::Mat(s, CV_8UC3, cv::Scalar(60, 160, 220));
                           }});
        const cv::Mat picture = first_frame(path, true);
        REQUIRE(picture.size() == size);
        const cv::Mat right = picture.colRange(size.width - 8, size.width);
        const cv::Mat left = picture.colRange(0, 8);
        CHECK(cv::norm(right, left, cv::NORM_INF) <= 2);  // a flat colour: the last columns as the first ones
    }
}

TEST_CASE(
    "video source: the convert stage gives swscale's BGR bytes (ffmpeg's own conversion), BT.601 and BT.709, limited "
    "and full range, widths not a multiple of 8 or 32, an odd width, an odd height") {
    // Noise drives many pixels outside the BGR cube, where swscale clamps: its fixed-point arithmetic shows there.
    TempDir dir;
    struct Case {
        cv::Size size;
        const char* codec;
    };
    const Case cases[] = {
        {{854, 480}, "-c:v libx264 -preset veryfast -pix_fmt yuv420p"},
        {{100, 64}, "-c:v libx264 -preset veryfast -pix_fmt yuv420p -colorspace bt709 -color_range tv"},
        {{1366, 64}, "-c:v libx264 -preset veryfast -pix_fmt yuvj420p -color_range pc"},
        {{321, 240}, "-c:v mjpeg -pix_fmt yuvj420p"},  // odd width: a last chroma sample for one column
        {{320, 241}, "-c:v mjpeg -pix_fmt yuvj420p"},  // odd height: swscale's generic path
    };
    for (const Case& c : cases) {
        CAPTURE(c.size);
        CAPTURE(c.codec);
        const std::string path = dir / fmt::format("{}x{}.mkv", c.size.width, c.size.height);
        write_video(path, {.frames = 1, .size = c.size, .codec = c.codec, .draw = [](int, cv::Size s) {
                               cv::Mat noise(s, CV_8UC3);
                               cv::randu(noise, 0, 256);
                               return noise;
                           }});
        const std::string raw = dir / "ffmpeg.bgr";
        REQUIRE(run(fmt::format(
                    "ffmpeg -v error -y -i '{}' -frames:v 1 -sws_flags bilinear -f rawvideo -pix_fmt bgr24 '{}'", path,
                    raw)) == 0);
        std::ifstream in(raw, std::ios::binary);
        cv::Mat expected(c.size, CV_8UC3);
        in.read(reinterpret_cast<char*>(expected.data), static_cast<std::streamsize>(expected.total() * 3));
        REQUIRE(in.gcount() == static_cast<std::streamsize>(expected.total() * 3));
        const cv::Mat picture = first_frame(path, true);
        REQUIRE(picture.size() == c.size);
        CHECK(cv::norm(picture, expected, cv::NORM_INF) == 0);
    }
}

TEST_CASE("video source decode: keyframes: the pictures are the keyframes only (the rest filtered, not lost) while a "
          "packet branch still gets every packet") {
    TempDir dir;
    const std::string input = dir / "gop.mkv";  // a keyframe every 25 frames exactly (no scene-cut keyframes)
    write_video(input, {.frames = 100, .size = {160, 120}, .fps = 25,
                        .codec = "-c:v libx264 -preset veryfast -bf 2 -g 25 -sc_threshold 0 -pix_fmt yuv420p"});
    Pipeline pipeline;
    auto pictures = std::make_unique<NumberRecorder>("pictures");
    NumberRecorder* pictures_ptr = pictures.get();
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input, .keyframes_only = true}))
        .add(std::move(pictures))
        .add(make_stage("null"), {}, std::string(kFromPackets));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CAPTURE(fmt::format("{}", pictures_ptr->numbers()));
    CHECK(pictures_ptr->numbers() == std::vector<int>{0, 25, 50, 75});
    const SourceReport& source = report.sources.at(0);
    CHECK(source.stages.at(0).name == "decode");
    CHECK(source.stages.at(0).filtered == 96);
    CHECK(source.stages.at(0).rejected == 0);
    CHECK(source.stages.at(3).processed == 100);  // the packets
    CHECK(report.balanced());
}

TEST_CASE(
    "video_source: a file's decoder takes one frame thread more than its share of the processors, shared among "
    "the inputs that decode at once; an explicit decode_threads is kept") {
    TempDir dir;
    write_video(dir / "a.mp4", {.frames = 3, .size = {160, 120}});
    // The decode stage holds up to 16 reordered pictures plus one per frame thread (the dry run says how many).
    const auto held_with = [&](std::size_t inputs, int decode_threads) {
        Pipeline pipeline;
        for (std::size_t i = 0; i < inputs; ++i)
            pipeline
                .add_source(std::make_unique<VideoSource>(
                    VideoSource::Options{.path = dir / "a.mp4", .decode_threads = decode_threads}))
                .add(make_stage("null"));
        const std::string plan = pipeline.describe();
        const std::string mark = "decode           serial, holds up to ";
        const std::size_t at = plan.find(mark);
        REQUIRE(at != std::string::npos);
        return std::stoi(plan.substr(at + mark.size())) - 16;
    };
    const std::size_t processors = std::max(1u, std::thread::hardware_concurrency());
    const auto automatic = [&](std::size_t inputs) {
        return processors == 1
                   ? 1
                   : static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(1, processors / inputs) + 1, 8));
    };
    CAPTURE(processors);
    CHECK(held_with(1, 0) == automatic(1));
    CHECK(held_with(2, 0) == automatic(2));
    CHECK(held_with(2 * processors, 0) == automatic(2 * processors));
    if (processors >= 2) CHECK(held_with(2, 0) < held_with(1, 0));  // two inputs share what one has alone
    CHECK(held_with(2, 5) == 5);
}
