// The framepipe command as a user runs it: exit codes (0 ok, 1 runtime failure, 2 bad usage or configuration), the
// messages for bad input, --dry-run, stages, probe, validate, and Ctrl-C finishing every output.
#include "support/framepipe_command.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

using namespace framepipe::test;
namespace fs = std::filesystem;

TEST_CASE("cli: usage errors exit with 2") {
    TempDir dir;
    CHECK(run_framepipe("", dir).code == 2);
    CHECK(run_framepipe("frobnicate", dir).code == 2);
    const CommandResult missing = run_framepipe("run nowhere.yaml clip.mp4", dir);
    CHECK(missing.code == 2);
    CHECK(missing.err == "framepipe: cannot read the pipeline file 'nowhere.yaml': no such file; check the path\n");
    CHECK(run_framepipe("--help", dir).code == 0);
}

TEST_CASE("cli: --version prints the project's version") {
    TempDir dir;
    const CommandResult version = run_framepipe("--version", dir);
    CHECK(version.code == 0);
    CHECK(version.out == "framepipe " FRAMEPIPE_VERSION "\n");
}

TEST_CASE("cli: a mistyped command or type says which one was meant") {
    TempDir dir;
    const CommandResult command = run_framepipe("valdate p.yaml", dir);
    CHECK(command.code == 2);
    CHECK(command.err == "framepipe: unknown command 'valdate' (did you mean 'validate'?); commands are run, validate, "
                         "stages, report, compare, worker, submit, probe, devices ('framepipe --help' says more)\n");
    const CommandResult type = run_framepipe("stages blurr", dir);
    CHECK(type.code == 2);
    CHECK(type.err == "framepipe: no stage or source type 'blurr' (did you mean 'blur'?); 'framepipe stages' lists them\n");
    CHECK(run_framepipe("stages synthetc", dir).err.find("(did you mean 'synthetic'?)") != std::string::npos);
}

TEST_CASE("cli: validate checks inputs as run takes them, says which source each gets, and opens none") {
    TempDir dir;
    std::ofstream(dir / "p.yaml") << "stages:\n  - { type: null }\n";
    const CommandResult result = run_framepipe(
        "validate p.yaml 'gate=rtsp://admin:hunter2@127.0.0.1:1/cam/realmonitor?channel=1&subtype=0' "
        "'rtsp://[::1]/x' photos/ 'shots/*.png' camera:0 synthetic:front",
        dir);
    CHECK(result.code == 0);
    CHECK(result.err.empty());
    CHECK(result.out == "p.yaml: OK, 1 stage(s): null\n"
                        "  input: gate = rtsp://admin:***@127.0.0.1:1/cam/realmonitor?channel=1&subtype=0 (video)\n"
                        "  input: rtsp://[::1]/x (video)\n"
                        "  input: photos/ (images)\n"
                        "  input: shots/*.png (images)\n"
                        "  input: camera:0 (video)\n"
                        "  input: synthetic:front (synthetic)\n");
    const CommandResult none = run_framepipe("validate p.yaml", dir);
    CHECK(none.out == "p.yaml: OK, 1 stage(s): null\n  no inputs: give them to 'framepipe run' after the pipeline file\n");
}

TEST_CASE("cli: a pipeline file with mistakes is refused with file, line and what is allowed") {
    TempDir dir;
    std::ofstream(dir / "bad.yaml") << "stages:\n  - { type: blur, ksize: 500 }\n";
    const CommandResult range = run_framepipe("run bad.yaml synthetic", dir);
    CHECK(range.code == 2);
    CHECK(range.err == "framepipe: bad.yaml:2: stage 'blur': option 'ksize' must be a whole number between 1 and 99, "
                       "got '500'\n");
    std::ofstream(dir / "unknown.yaml") << "stages:\n  - { type: blurry }\n";
    const CommandResult unknown = run_framepipe("validate unknown.yaml", dir);
    CHECK(unknown.code == 2);
    CHECK(unknown.err.find("unknown.yaml:2: unknown stage type 'blurry' (did you mean 'blur'?)") != std::string::npos);
    const CommandResult good = run_framepipe(fmt::format("validate '{}thumbnails.yaml'", pipelines()), dir);
    CHECK(good.code == 0);
    CHECK(good.out.find("OK, 4 stage(s): blur -> resize -> thumbs -> sheet") != std::string::npos);
}

TEST_CASE("cli: bad inputs get a clear message and the right exit code, and nothing hangs") {
    TempDir dir;
    const std::string edges = pipelines() + "edges.yaml";
    const CommandResult missing = run_framepipe(fmt::format("run -q '{}' missing.mp4", edges), dir);
    CHECK(missing.code == 2);
    CHECK(missing.err.find("'missing.mp4': no such file; check the path") != std::string::npos);

    std::ofstream(dir / "text.mp4") << "hello, I am not a video\n";
    const CommandResult not_video = run_framepipe(fmt::format("run -q '{}' text.mp4", edges), dir);
    CHECK(not_video.code == 2);
    CHECK(not_video.err.find("'text.mp4' is not a video FFmpeg can read") != std::string::npos);

    write_video(dir / "cut.mkv", {.frames = 60, .size = {320, 240}, .codec = "-c:v libx264 -preset veryfast -g 10"});
    fs::resize_file(dir / "cut.mkv", fs::file_size(dir / "cut.mkv") / 2);
    const CommandResult truncated =
        run_framepipe(fmt::format("run -q '{}' cut.mkv --set encode.path=out.mp4", edges), dir);
    CHECK(truncated.code == 0);  // the frames before the cut are processed; the output is complete
    CHECK(ffprobe_frame_count(dir / "out.mp4") > 10);

    fs::create_directories(dir / "photos");
    write_images(dir / "photos", 3, {64, 48}, "png");
    std::ofstream(dir / "photos/zz_corrupt.png") << "\x89PNG\r\n\x1a\n but then garbage";
    const CommandResult folder =
        run_framepipe(fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=resized", pipelines()),
                      dir);
    CHECK(folder.code == 0);
    CHECK(folder.err.find("zz_corrupt.png") != std::string::npos);  // the warning names the bad file
    CHECK(folder.out.find("4 captured, 3 delivered, 0 filtered, 1 rejected, 0 dropped") != std::string::npos);
    CHECK(folder.out.find("1 rejected at 'decode': bad or undecodable data") != std::string::npos);

    std::ofstream(dir / "blocker") << "a file where a folder should be";
    const CommandResult unwritable =
        run_framepipe(fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=blocker/out",
                                  pipelines()),
                      dir);
    CHECK(unwritable.code == 2);
    CHECK(unwritable.err.find("cannot create the output folder 'blocker/out'") != std::string::npos);

    const CommandResult bad_set = run_framepipe(fmt::format("run '{}' synthetic --set canny.low=lots", edges), dir);
    CHECK(bad_set.code == 2);
    CHECK(bad_set.err == "framepipe: --set canny.low: option 'low' must be a number between 0 and 10000, got 'lots'\n");
}

TEST_CASE("cli: an output folder holding a file the run could write is refused before the first frame, with exit 2") {
    TempDir dir;
    fs::create_directories(dir / "thumbs");
    std::ofstream(dir / "thumbs/synthetic_000000.jpg") << "already here";
    const CommandResult result =
        run_framepipe(fmt::format("run -q '{}thumbnails.yaml' synthetic --set thumbs.dir=thumbs --set sheet.dir=thumbs",
                                  pipelines()),
                      dir);
    CHECK(result.code == 2);
    CHECK(result.err.find("synthetic: stage 'thumbs': 'thumbs/synthetic_000000.jpg' already exists") != std::string::npos);
    CHECK(result.err.find("set overwrite: true, or choose another dir") != std::string::npos);
    CHECK(std::distance(fs::directory_iterator(dir / "thumbs"), fs::directory_iterator{}) == 1);  // nothing written
}

TEST_CASE("cli: --dry-run shows every stage and edge with its policy, and writes nothing") {
    TempDir dir;
    write_video(dir / "clip.mp4", {.frames = 10, .size = {320, 240}});
    const CommandResult result =
        run_framepipe(fmt::format("run '{}thumbnails.yaml' clip.mp4 --dry-run --set resize.edge.capacity=2 "
                                  "--set resize.edge.max_age=200ms",
                                  pipelines()),
                      dir);
    CHECK(result.code == 0);
    CHECK(result.out.find("clip.mp4 (file, 320x240, 25.00 fps, 10 frames)") != std::string::npos);
    CHECK(result.out.find("--> decode           serial, holds up to") != std::string::npos);
    CHECK(result.out.find("--> convert          parallel") != std::string::npos);
    CHECK(result.out.find("cap  2  block  max_age 200ms") != std::string::npos);
    CHECK(result.out.find("--> thumbs           serial, dedicated thread") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "thumbnails"));
}

TEST_CASE("cli: stages lists every type and shows one with its options; probe describes an input") {
    TempDir dir;
    const CommandResult all = run_framepipe("stages", dir);
    CHECK(all.code == 0);
    for (const char* type : {"blur", "thumbnail", "contact_sheet", "write_video", "canny", "decimate", "synthetic"})
        CHECK(all.out.find(type) != std::string::npos);
    const CommandResult blur = run_framepipe("stages blur", dir);
    CHECK(blur.out.find("ksize           integer   default: 5") != std::string::npos);
    CHECK(run_framepipe("stages nosuch", dir).code == 2);
    write_video(dir / "clip.mp4", {.frames = 25, .size = {320, 240}, .fps = 25});
    const CommandResult probe = run_framepipe("probe clip.mp4", dir);
    CHECK(probe.code == 0);
    CHECK(probe.out.find("codec      h264 (yuv420p, inter-frame: decodes in order)") != std::string::npos);
    CHECK(probe.out.find("size       320x240") != std::string::npos);
    CHECK(probe.out.find("frames     25") != std::string::npos);
    CHECK(run_framepipe("probe nothing.mp4", dir).code == 2);
}

TEST_CASE("cli: devices lists cameras or says there are none, and a bad camera name is a usage error") {
    TempDir dir;
    const CommandResult devices = run_framepipe("devices", dir);
    CHECK(devices.code == 0);
    const bool listed = devices.out.rfind("/dev/video", 0) == 0;  // one line per device
    const bool none = devices.out.find("no cameras found") != std::string::npos;
    CHECK(listed != none);
    const CommandResult bad = run_framepipe(fmt::format("run -q '{}edges.yaml' camera:front", pipelines()), dir);
    CHECK(bad.code == 2);
    CHECK(bad.err.find("camera:N") != std::string::npos);
}

TEST_CASE("cli: Ctrl-C drains the frames in flight and finalises the output, which plays with every frame") {
    TempDir dir;
    // An endless synthetic source into a video; SIGINT after 3 s.
    const CommandResult result =
        run_bounded("timeout --preserve-status -s INT 3 " +
                        framepipe_command_line(fmt::format("run -q '{}edges.yaml' synthetic --set source.frames=0 "
                                                           "--set source.pattern=counter --set encode.path=endless.mp4",
                                                           pipelines())),
                    dir.path());
    CHECK(result.code == 0);
    CHECK(result.out.find("stopped on request") != std::string::npos);
    CHECK(result.err.find("stopping: finishing the frames in flight") != std::string::npos);
    REQUIRE(result.out.find(" delivered") != std::string::npos);
    const std::int64_t delivered = count_before(result.out, " delivered");
    CHECK(delivered > 0);
    CHECK(ffprobe_frame_count(dir / "endless.mp4") == delivered);  // every delivered frame is in the file
}

TEST_CASE("cli: stream_out and y4m to standard output feed a reader of the pipe; the summary goes to stderr; a reader "
          "that goes away stops that output only, and the run ends normally") {
    TempDir dir;
    write_video(dir / "camera.mkv", {.frames = 50, .size = {160, 120}, .fps = 25});
    std::ofstream(dir / "ts.yaml") << "stages:\n  - { type: stream_out, from: packets }\n  - { type: null, from: source }\n";
    std::ofstream(dir / "raw.yaml") << "stages:\n  - { type: y4m }\n";

    const CommandResult ts = run_bounded(
        fmt::format("'{}' run ts.yaml camera.mkv 2> ts.err | ffprobe -v error -count_frames -show_entries "
                    "stream=codec_name,nb_read_frames -of csv=p=0 -",
                    FRAMEPIPE_BINARY),
        dir.path(), std::chrono::seconds(60));
    CHECK(ts.code == 0);
    CHECK(ts.out.find("h264,50") != std::string::npos);  // MPEG-TS on stdout, every frame
    CHECK(slurp(dir / "ts.err").find("50 captured") != std::string::npos);

    const CommandResult raw =
        run_bounded(fmt::format("('{}' run raw.yaml camera.mkv 2> raw.err; echo $? > raw.rc) | head -c 100000 | wc -c",
                                FRAMEPIPE_BINARY),
                    dir.path(), std::chrono::seconds(60));
    CAPTURE(raw.out);
    CHECK(raw.out.find("100000") != std::string::npos);
    CHECK(slurp(dir / "raw.rc") == "0\n");
    const std::string err = slurp(dir / "raw.err");
    CAPTURE(err);
    CHECK(err.find("the reader of standard output went away; this output stops, the run goes on") != std::string::npos);
}
