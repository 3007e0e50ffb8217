// The live view's HLS routes: a stream_out stage writing the source's own H.264 packets as HLS and a live_view stage
// given the same playlist (its hls option) in one real pipeline on 127.0.0.1, the playlist and its MPEG-TS segments
// served as a browser asks for them, with the token; then the server alone on files laid out by the test: what is
// answered before the first playlist exists, and every name that must not be served (traversal, temporary and hidden
// files, other extensions, symbolic links).
#include "live/live_view_server.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// The URI lines of a playlist (segments), in order.
std::vector<std::string> uris_of(const std::string& playlist) {
    std::vector<std::string> uris;
    std::istringstream lines(playlist);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && line.front() != '#') uris.push_back(line);
    }
    return uris;
}

/// Whether `data` is whole MPEG-TS packets: 188 bytes each, every one starting with the sync byte 0x47.
bool is_mpeg_ts(const std::string& data) {
    if (data.empty() || data.size() % 188 != 0) return false;
    for (std::size_t at = 0; at < data.size(); at += 188)
        if (static_cast<unsigned char>(data[at]) != 0x47) return false;
    return true;
}

void write_file(const fs::path& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }

}  // namespace

TEST_CASE(
    "live_view hls: the camera's own H.264, written as HLS by stream_out from the packets, is served beside the "
    "MJPEG picture: playlist and MPEG-TS segments, with the token, and nothing outside the playlist's folder") {
    TempDir dir;
    const std::string input = dir / "camera.mkv";
    // 30 s replayed at its own rate: the run goes on while the test asks, and is stopped when it is done.
    write_video(input, {.frames = 750,
                        .size = {160, 120},
                        .fps = 25,
                        .codec = "-c:v libx264 -preset veryfast -g 12 -pix_fmt yuv420p"});
    write_file(dir.path() / "secret.ts", std::string(188, 'G'));  // beside the folder served: never to be reached
    const std::string playlist_template = dir / "live/{input}.m3u8";
    const int port = free_port();
    const std::string token = "hls-s3cret";

    Pipeline pipeline;
    pipeline.add_source(std::make_unique<VideoSource>(VideoSource::Options{.path = input, .realtime = true}))
        .add(make_stage("stream_out", {{"to", playlist_template}, {"hls_time", "0.5s"}, {"hls_list_size", "4"}}), {},
             std::string(kFromPackets))
        .add(make_stage("live_view",
                        {{"listen", fmt::format("127.0.0.1:{}", port)}, {"hls", playlist_template}, {"token", token}}),
             {}, std::string(kFromSource));
    RunReport report;
    std::string failure;
    std::thread run([&] {
        try {
            report = pipeline.run();
        } catch (const std::exception& e) {
            failure = e.what();
        }
    });
    const auto stop = [&] {
        if (!run.joinable()) return;
        pipeline.request_stop();
        run.join();
    };

    // Once the first segment is complete the playlist lists it (503 with Retry-After before, never a hang).
    HttpResponse playlist;
    const bool listed = eventually([&] {
        playlist = http_get(port, "/hls/camera.m3u8?token=" + token, 2s);
        if (playlist.status == 503) CHECK(playlist.head.find("Retry-After: ") != std::string::npos);
        return !failure.empty() || (playlist.status == 200 && !uris_of(playlist.body).empty());
    });
    if (!listed || !failure.empty()) stop();
    REQUIRE(failure.empty());
    REQUIRE(listed);
    CHECK(playlist.content_type == "application/vnd.apple.mpegurl");
    CHECK(playlist.head.find("Cache-Control: no-cache") != std::string::npos);
    CHECK(playlist.body.rfind("#EXTM3U", 0) == 0);
    CHECK(playlist.body.find("#EXTINF:") != std::string::npos);
    // Each segment line carries the token on, as the player must send it; segments are named as stream_out names them.
    const std::vector<std::string> uris = uris_of(playlist.body);
    for (const std::string& uri : uris) {
        CAPTURE(uri);
        CHECK(uri.ends_with(".ts?token=" + token));
        CHECK(uri.rfind("camera_", 0) == 0);
    }
    const std::string segment = uris.front().substr(0, uris.front().find('?'));

    // A listed segment is MPEG-TS; it may have been deleted since (the list is 4 long): then a newer one is asked.
    HttpResponse ts;
    CHECK(eventually([&] {
        const auto names = uris_of(http_get(port, "/hls/camera.m3u8?token=" + token).body);
        if (names.empty()) return false;
        ts = http_get(port, "/hls/" + names.back());
        return ts.status == 200;
    }));
    CHECK(ts.content_type == "video/mp2t");
    CHECK(ts.body.size() >= 188);
    CHECK(is_mpeg_ts(ts.body));
    CHECK(http_get(port, "/hls/" + segment, 10s, {.headers = {"Authorization: Bearer " + token}}).status != 401);
    const HttpResponse head = http_get(port, "/hls/camera.m3u8?token=" + token, 10s, {.method = "HEAD"});
    CHECK(head.status == 200);
    CHECK(head.body.empty());

    // The token is asked on these routes as on the others.
    CHECK(http_get(port, "/hls/camera.m3u8").status == 401);
    CHECK(http_get(port, "/hls/" + segment).status == 401);
    CHECK(http_get(port, "/hls/camera.m3u8?token=wrong").status == 401);

    // Nothing but the playlist and its segments, from its folder only.
    const std::string t = "?token=" + token;
    const std::vector<std::string> refused = {"/hls/../secret.ts",
                                              "/hls/%2e%2e/secret.ts",
                                              "/hls/%2E%2E%2Fsecret.ts",
                                              "/hls/..%2fsecret.ts",
                                              "/hls/..",
                                              "/hls/",
                                              "/hls/live/camera.m3u8",
                                              "/hls/%2fetc%2fpasswd",
                                              "/hls/" + segment + ".tmp",
                                              "/hls/camera.m3u8.tmp",
                                              "/hls/camera_000000.part.ts",
                                              "/hls/.camera.m3u8",
                                              "/hls/camera.mkv",
                                              "/hls/other.m3u8",
                                              "/hls/secret.ts",
                                              "/hls/camera_abc.ts",
                                              "/hls/camera_000000.mp4"};
    for (const std::string& path : refused) {
        CAPTURE(path);
        CHECK(http_get(port, path + t).status == 404);
    }

    // The page shows the video, playing the playlist with the token, beside the MJPEG picture, and says so.
    const HttpResponse page = http_get(port, "/" + t);
    REQUIRE(page.status == 200);
    CHECK(page.body.find("<video controls muted autoplay playsinline src=\"hls/camera.m3u8" + t + "\"") !=
          std::string::npos);
    CHECK(page.body.find("/stream.mjpg?name=camera&amp;token=" + token) != std::string::npos);
    CHECK(page.body.find("MJPEG picture only") != std::string::npos);

    stop();
    REQUIRE(failure.empty());
    CHECK(report.ok());
}

TEST_CASE(
    "live view server hls: 503 with Retry-After before the playlist exists; only the playlist and its finished "
    "segments are served from its folder, everything else is 404") {
    TempDir dir;
    const fs::path live = dir.path() / "live";
    fs::create_directories(live);
    live::LiveViewServer::Settings settings;
    settings.port = 0;
    const auto server = live::LiveViewServer::acquire(settings, nullptr);
    const auto stream = server->add_stream("cam", (live / "cam.m3u8").string());
    const auto plain = server->add_stream("porch");  // no HLS: an MJPEG picture only
    const int port = server->port();

    const HttpResponse early = http_get(port, "/hls/cam.m3u8");
    CHECK(early.status == 503);
    CHECK(early.head.find("Retry-After: ") != std::string::npos);
    CHECK(early.body.find("not written yet") != std::string::npos);
    CHECK(http_get(port, "/hls/cam_000000.ts").status == 404);

    const std::string ts(188 * 3, '\x47');
    write_file(live / "cam.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\ncam_000000.ts\n");
    write_file(live / "cam_000000.ts", ts);
    write_file(live / "cam_000001.ts.tmp", ts);  // stream_out's segment while it is being written (temp_file)
    write_file(live / "cam_000002.part.ts", ts);
    write_file(live / "cam.m3u8.tmp", "#EXTM3U\n");
    write_file(live / ".cam_000003.ts", ts);
    write_file(live / "cam.mp4", ts);
    write_file(live / "other_000000.ts", ts);
    write_file(dir.path() / "cam_000009.ts", ts);  // the parent folder
    fs::create_symlink(dir.path() / "cam_000009.ts", live / "cam_000004.ts");
    fs::create_directories(live / "cam_000005.ts");

    const HttpResponse playlist = http_get(port, "/hls/cam.m3u8");
    CHECK(playlist.status == 200);
    CHECK(playlist.content_type == "application/vnd.apple.mpegurl");
    CHECK(playlist.head.find("Cache-Control: no-cache") != std::string::npos);
    CHECK(playlist.body.find("\ncam_000000.ts\n") != std::string::npos);  // no token: the lines as written
    const HttpResponse segment = http_get(port, "/hls/cam_000000.ts");
    CHECK(segment.status == 200);
    CHECK(segment.content_type == "video/mp2t");
    CHECK(segment.body == ts);
    CHECK(http_get(port, "/hls/cam%5f000000.ts").status == 200);  // percent-decoded before it is judged

    for (const char* path :
         {"/hls/cam_000001.ts.tmp", "/hls/cam_000001.ts", "/hls/cam_000002.part.ts", "/hls/cam.m3u8.tmp",
          "/hls/.cam_000003.ts", "/hls/cam.mp4", "/hls/other_000000.ts", "/hls/cam_000004.ts", "/hls/cam_000005.ts",
          "/hls/../cam_000009.ts", "/hls/%2e%2e/cam_000009.ts", "/hls/%2e%2e%2fcam_000009.ts", "/hls/live/cam.m3u8",
          "/hls/cam_000000.ts/", "/hls/%00cam.m3u8", "/hls/cam_.ts", "/hls/cam_-1.ts", "/hls/porch.m3u8"}) {
        CAPTURE(path);
        CHECK(http_get(port, path).status == 404);
    }

    // The page: a video for the stream with HLS, the picture alone for the other.
    const std::string page = http_get(port, "/").body;
    CHECK(page.find("src=\"hls/cam.m3u8\"") != std::string::npos);
    CHECK(page.find("hls/porch") == std::string::npos);
    CHECK(page.find("/stream.mjpg?name=porch") != std::string::npos);

    // Two streams may not serve playlists of one name; taking a stream off takes its playlist off.
    CHECK_THROWS_WITH_AS(server->add_stream("yard", (dir.path() / "cam.m3u8").string()), doctest::Contains("{input}"),
                         ConfigError);
    server->remove_stream(stream);
    CHECK(http_get(port, "/hls/cam.m3u8").status == 404);
    server->remove_stream(plain);
}

TEST_CASE("live_view hls: an option that names no playlist is refused at construction, naming it and what to give") {
    CHECK_THROWS_WITH_AS(make_stage("live_view", {{"hls", "live/camera.mp4"}}), doctest::Contains("end it in .m3u8"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("live_view", {{"hls", "live/.m3u8"}}), doctest::Contains("hls"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("live_view", {{"hls", "http://example.com/live.m3u8"}}),
                         doctest::Contains("stream_out"), ConfigError);
    CHECK_THROWS_WITH_AS(make_stage("live_view", {{"hls", "live/{nope}.m3u8"}}), doctest::Contains("hls"), ConfigError);
    CHECK_NOTHROW(make_stage("live_view", {{"hls", "live/{input}.m3u8"}}));
}
