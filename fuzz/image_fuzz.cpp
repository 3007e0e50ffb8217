// libFuzzer target: an image file, opened the way an image input is: ImageSource lists and reads it (the bounded read),
// its decode stage checks it (truncation, the header's dimensions against max_pixels) and decodes it with OpenCV, and
// `framepipe probe`'s ImageSource::header_dimensions reads its header from the file.
//
// Input: the bytes of the file (written to a temporary file; OpenCV picks the decoder by content).
//
// Contract checked: the source opens (the file is there) and delivers one frame; the decode stage passes it as a BGR
// picture of at most max_pixels, or rejects it with BadFrame; the header read from the file and from memory agree.
// Any other exception escapes (libFuzzer reports it), and a broken contract aborts.
//
// With FRAMEPIPE_FUZZ_EXPORT=DIR in the environment it writes seeds in the formats ffmpeg cannot write (Radiance HDR,
// OpenEXR) to DIR with OpenCV, then exits.

#include "media/image_file.hpp"

#include <framepipe/error.hpp>
#include <framepipe/sources/image_source.hpp>
#include <framepipe/stage.hpp>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using namespace framepipe;

// Small enough that decoding stays fast; the seeds are far smaller.
constexpr std::int64_t kMaxPixels = std::int64_t{1} << 20;

std::string g_file;  // the input's file, in a private temporary folder

[[noreturn]] void broken(const std::string& what) {
    std::fprintf(stderr, "contract broken: %s\n", what.c_str());
    std::abort();
}

bool same(const std::optional<ImageSource::Dimensions>& a, const std::optional<ImageSource::Dimensions>& b) {
    return a.has_value() == b.has_value() && (!a || (a->width == b->width && a->height == b->height));
}

void export_seeds(const std::string& dir) {
    const cv::Mat picture(12, 16, CV_8UC3, cv::Scalar(40, 120, 200));
    cv::Mat floats;
    picture.convertTo(floats, CV_32FC3, 1 / 255.0);
    for (const char* name : {"seed.hdr", "seed.exr"})
        if (!cv::imwrite(dir + "/" + name, floats)) broken(std::string("cannot write ") + name);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    if (const char* dir = std::getenv("FRAMEPIPE_FUZZ_EXPORT")) {
        export_seeds(dir);
        std::exit(0);
    }
    cv::setNumThreads(1);  // one input at a time: OpenCV's thread pool would only add noise
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/framepipe-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("mkdtemp");
        std::abort();
    }
    g_file = pattern + "/input.png";
    std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(std::filesystem::path(g_file).parent_path(), ec);
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        std::ofstream out(g_file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out) broken("cannot write " + g_file);
    }

    // The header, as probe reads it (from the file) and as the decode stage reads it (from memory).
    const std::optional<ImageSource::Dimensions> from_file = ImageSource::header_dimensions(g_file);
    const std::optional<ImageSource::Dimensions> from_memory =
        media::header_dimensions([&](std::uint64_t at, std::uint8_t* out, std::size_t n) {
            if (at >= size) return std::size_t{0};
            n = std::min<std::size_t>(n, size - static_cast<std::size_t>(at));
            std::memcpy(out, data + at, n);
            return n;
        });
    if (!same(from_file, from_memory)) broken("header_dimensions differs between the file and memory");

    ImageSource source({.inputs = {g_file}, .max_pixels = kMaxPixels, .max_file_mb = 1});
    std::stop_source stop;
    const SourceInfo info = source.open(stop.get_token());
    Frame delivered;
    if (source.read(delivered, stop.get_token()) != ReadResult::frame) broken("no frame for the file");
    Frame spare;
    if (source.read(spare, stop.get_token()) != ReadResult::end_of_stream) broken("more than one frame for one file");
    source.close();

    std::vector<std::unique_ptr<Stage>> stages = source.decode_stages();
    StageHealth health;
    StageContext context;
    context.source = info;
    context.health = &health;
    for (auto& stage : stages) stage->open(context);
    bool passed = true;
    for (auto& stage : stages) {
        try {
            if (stage->process(delivered) != Outcome::pass) {
                passed = false;
                break;
            }
        } catch (const BadFrame& e) {
            if (std::strlen(e.what()) == 0) broken("BadFrame without a reason");
            passed = false;
            break;
        }
    }
    for (auto& stage : stages) stage->close();
    if (passed) {
        if (delivered.format != PixelFormat::bgr || delivered.image.type() != CV_8UC3 || delivered.image.empty())
            broken("a passed frame is not a BGR picture");
        if (static_cast<std::int64_t>(delivered.image.total()) > kMaxPixels)
            broken("a decoded picture has more pixels than max_pixels");
    }
    return 0;
}
