// Image folders that fight back: symbolic link loops, dangling links, FIFOs, files deleted, replaced, truncated or grown
// between listing and reading, files far too large, and headers that claim huge pictures. Each entry with an image
// name is captured and rejected by name with its reason (captured = delivered + dropped), nothing is read beyond the
// cap, and `framepipe probe` reads headers only.
#include "media/image_file.hpp"
#include "support/command.hpp"
#include "support/framepipe_command.hpp"
#include "support/damage.hpp"
#include "support/media.hpp"

#include <framepipe/error.hpp>
#include <framepipe/sources/image_source.hpp>
#include <framepipe/stage.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// An ImageSource opened on `folder` and its decode stage, driven by hand: tests change files between open() (the
// listing) and read().
struct OpenedSource {
    explicit OpenedSource(const std::string& folder, std::int64_t max_file_mb = 512)
        : source(ImageSource::Options{.inputs = {folder}, .max_file_mb = max_file_mb}) {
        context.source = source.open({});
        auto stages = source.decode_stages();
        decode = std::move(stages.at(0));
        decode->open(context);
    }
    ~OpenedSource() { decode->close(); }
    // Reads the next entry into `frame` (recycled first, as the engine's pool does) and decodes it.
    Outcome next() {
        frame.reset_metadata();
        REQUIRE(source.read(frame, {}) == ReadResult::frame);
        return decode->process(frame);
    }

    ImageSource source;
    StageContext context;
    std::unique_ptr<Stage> decode;
    Frame frame;
};

}  // namespace

TEST_CASE("image folders: a link loop, a dangling link and a FIFO, first, last and between in the listing, are each "
          "captured and rejected by name with the reason; the good images are written and the accounting adds up") {
    TempDir dir;
    fs::create_directories(dir / "photos");
    write_images(dir / "photos", 3, {64, 48}, "jpg", "img");
    fs::create_symlink("aa_loop.jpg", dir / "photos/aa_loop.jpg");
    fs::create_symlink("missing.jpg", dir / "photos/zz_dangling.jpg");
    REQUIRE(::mkfifo((dir / "photos/img1_fifo.jpg").c_str(), 0644) == 0);
    const CommandResult r = run_framepipe(
        fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=out --report run.json", pipelines()), dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 0);
    CHECK(contains(r.err, "'aa_loop.jpg' is a symbolic link loop"));
    CHECK(contains(r.err, "'zz_dangling.jpg' is a dangling symbolic link (its target does not exist)"));
    CHECK(contains(r.err, "'img1_fifo.jpg' is not a regular file"));
    CHECK(contains(r.err, "decode: rejected 3 image file(s)"));
    const auto report = nlohmann::json::parse(slurp(dir.path() / "run.json"));
    const auto& source = report.at("sources").at(0);
    CHECK(source.at("captured") == 6);
    CHECK(source.at("delivered") == 3);
    CHECK(source.at("stages").at(0).at("name") == "decode");
    CHECK(source.at("stages").at(0).at("rejected") == 3);
    CHECK(report.at("balanced") == true);
    CHECK(std::distance(fs::directory_iterator(dir / "out"), fs::directory_iterator{}) == 3);
}

TEST_CASE("image folders: a file deleted, replaced by a folder, or truncated after listing is rejected by name with "
          "what happened; one replaced by another image is read as it is now") {
    TempDir dir;
    write_images(dir.path().string(), 4, {64, 48}, "jpg", "img");
    OpenedSource opened(dir.path().string());
    fs::remove(dir / "img0.jpg");
    fs::remove(dir / "img1.jpg");
    fs::create_directory(dir / "img1.jpg");
    fs::resize_file(dir / "img2.jpg", fs::file_size(dir / "img2.jpg") / 2);
    REQUIRE(cv::imwrite(dir / "img3.jpg", numbered_frame(42, {64, 48})));

    CHECK_THROWS_WITH_AS(opened.next(), "'img0.jpg' vanished after it was listed", BadFrame);
    CHECK_THROWS_WITH_AS(opened.next(), doctest::Contains("'img1.jpg' is not a regular file"), BadFrame);
    CHECK_THROWS_WITH_AS(opened.next(), "'img2.jpg' is cut off (a JPEG without its end-of-image marker)", BadFrame);
    CHECK(opened.next() == Outcome::pass);
    CHECK(opened.frame.label == "img3.jpg");
    CHECK(read_number(opened.frame.image) == 42);
}

TEST_CASE("image files: one that grows or shrinks while it is read is refused with what happened, not half-read; one "
          "renamed over while open is read whole from the open file") {
    TempDir dir;
    const std::string path = dir / "photo.jpg";
    std::ofstream(path, std::ios::binary) << std::string(1000, 'a');
    std::vector<std::uint8_t> bytes;

    CHECK(media::read_file_bounded(path, 1 << 20, bytes, [&] { std::ofstream(path, std::ios::app) << "more"; }) ==
          "grew while it was read (past its 1000 bytes: still being written?)");
    CHECK(bytes.empty());

    fs::resize_file(path, 1000);
    CHECK(media::read_file_bounded(path, 1 << 20, bytes, [&] { fs::resize_file(path, 400); }) ==
          "shrank while it was read (from 1000 to 400 bytes: truncated or replaced underneath)");
    CHECK(bytes.empty());

    fs::resize_file(path, 1000);
    std::ofstream(dir / "other.jpg", std::ios::binary) << std::string(10, 'b');
    CHECK(media::read_file_bounded(path, 1 << 20, bytes, [&] { fs::rename(dir / "other.jpg", path); }).empty());
    CHECK(bytes.size() == 1000);
    CHECK(bytes.front() == 'a');
}

TEST_CASE("image files: two sparse 1.5 GB files named .jpg are refused by max_file_mb before anything is read or "
          "allocated; the rest of the folder is processed") {
    TempDir dir;
    fs::create_directories(dir / "photos");
    write_images(dir / "photos", 2, {64, 48}, "jpg", "img");
    for (const char* name : {"huge1.jpg", "huge2.jpg"}) {
        std::ofstream(dir / fmt::format("photos/{}", name));
        fs::resize_file(dir / fmt::format("photos/{}", name), std::uintmax_t{1536} << 20);  // sparse: nothing written
    }
    {
        OpenedSource opened(dir / "photos");
        CHECK_THROWS_WITH_AS(opened.next(),
                             "'huge1.jpg' is larger than max_file_mb (1536 MB > 512 MB); raise source.max_file_mb to "
                             "read it",
                             BadFrame);
        CHECK(opened.frame.encoded.capacity() == 0);  // refused before a byte was allocated
    }
    {
        OpenedSource small_cap(dir / "photos", 1);  // a lower cap refuses an ordinary file the same way
        std::ofstream(dir / "photos/huge1.jpg", std::ios::binary) << std::string(2 << 20, 'x');
        CHECK_THROWS_WITH_AS(small_cap.next(), doctest::Contains("(2 MB > 1 MB)"), BadFrame);
    }
    fs::resize_file(dir / "photos/huge1.jpg", std::uintmax_t{1536} << 20);
    const CommandResult r = run_framepipe(
        fmt::format("run -q '{}batch_images.yaml' photos --set write_images.dir=out", pipelines()), dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 0);
    CHECK(contains(r.err, "'huge2.jpg' is larger than max_file_mb (1536 MB > 512 MB)"));
    CHECK(contains(r.out, "4 captured, 2 delivered, 0 filtered, 2 rejected, 0 dropped"));
}

TEST_CASE("probe: reads only headers: a PNG claiming 20000x20000 shows that size undecoded, and unreadable entries "
          "are counted") {
    TempDir dir;
    fs::create_directories(dir / "photos");
    write_png_claiming(dir / "photos/a_bomb.png", 20000, 20000);
    fs::create_symlink("missing.jpg", dir / "photos/b_dangling.jpg");
    std::ofstream(dir / "photos/notes.txt") << "not an image";
    const CommandResult r = run_framepipe("probe photos", dir);
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 0);
    CHECK(r.out == "photos: 2 image(s), 1 unreadable, 1 other file(s) skipped; first: a_bomb.png (20000x20000)\n");
}

TEST_CASE("image files: header dimensions of every format with a header reader, without decoding") {
    TempDir dir;
    const cv::Mat picture = numbered_frame(1, {37, 23});
    for (const char* ext : {"png", "jpg", "bmp", "webp", "tif", "ppm"}) {
        CAPTURE(ext);
        const std::string path = dir / fmt::format("p.{}", ext);
        REQUIRE(cv::imwrite(path, picture));
        const auto size = ImageSource::header_dimensions(path);
        REQUIRE(size.has_value());
        CHECK(size->width == 37);
        CHECK(size->height == 23);
    }
    std::ofstream(dir / "text.jpg") << "not a header";
    CHECK_FALSE(ImageSource::header_dimensions(dir / "text.jpg").has_value());
    REQUIRE(::mkfifo((dir / "fifo.png").c_str(), 0644) == 0);
    CHECK_THROWS_WITH_AS(ImageSource::header_dimensions(dir / "fifo.png"), doctest::Contains("not a regular file"),
                         framepipe::Error);
}
