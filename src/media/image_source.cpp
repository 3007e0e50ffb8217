#include <framepipe/sources/image_source.hpp>

#include <framepipe/error.hpp>
#include <framepipe/stage.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace framepipe {
namespace fs = std::filesystem;

namespace {

const char* const kImageExtensions[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                                        ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".exr", ".hdr", ".pic"};

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

bool has_glob_characters(const std::string& text) { return text.find_first_of("*?[") != std::string::npos; }

// Reads the image's dimensions from its header, for the formats where a lying header is the usual decompression bomb.
// Returns false when the format is not one of those (the decoder's own limit then applies).
bool header_size(const std::vector<std::uint8_t>& data, std::int64_t& width, std::int64_t& height) {
    const auto be32 = [&](std::size_t at) {
        return (std::int64_t{data[at]} << 24) | (std::int64_t{data[at + 1]} << 16) | (std::int64_t{data[at + 2]} << 8) |
               data[at + 3];
    };
    if (data.size() >= 24 && data[0] == 0x89 && data[1] == 'P' && data[2] == 'N' && data[3] == 'G') {
        width = be32(16);
        height = be32(20);
        return true;
    }
    if (data.size() >= 4 && data[0] == 0xFF && data[1] == 0xD8) {  // JPEG: find the first SOFn marker
        for (std::size_t at = 2; at + 9 < data.size();) {
            if (data[at] != 0xFF) return false;
            const std::uint8_t marker = data[at + 1];
            const std::size_t length = (std::size_t{data[at + 2]} << 8) | data[at + 3];
            if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
                height = (std::int64_t{data[at + 5]} << 8) | data[at + 6];
                width = (std::int64_t{data[at + 7]} << 8) | data[at + 8];
                return true;
            }
            at += 2 + length;
        }
    }
    return false;
}

// A JPEG must end with its EOI marker and a PNG with its IEND chunk: OpenCV decodes cut-off files without complaint.
const char* truncation_of(const std::vector<std::uint8_t>& data) {
    const std::size_t n = data.size();
    if (n >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
        // Allow trailing padding after EOI.
        std::size_t end = n;
        while (end > 2 && (data[end - 1] == 0x00 || data[end - 1] == 0x0A || data[end - 1] == 0x0D)) --end;
        if (end < 4 || data[end - 2] != 0xFF || data[end - 1] != 0xD9) return "truncated JPEG (no end-of-image marker)";
    }
    if (n >= 8 && data[0] == 0x89 && data[1] == 'P' && data[2] == 'N' && data[3] == 'G') {
        static const std::uint8_t iend[] = {'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
        if (n < 12 || !std::equal(std::begin(iend), std::end(iend), data.end() - 8))
            return "truncated PNG (no IEND chunk)";
    }
    return nullptr;
}

// Image bytes (Frame::encoded) to BGR, in parallel.
class ImageDecode final : public Stage {
public:
    explicit ImageDecode(std::int64_t max_pixels)
        : Stage({.name = "decode", .parallel = true}), max_pixels_(max_pixels) {}

    Outcome process(Frame& frame) override {
        if (frame.format != PixelFormat::encoded) throw BadFrame("decode expects compressed input");
        if (frame.encoded.empty()) throw BadFrame(fmt::format("'{}': empty or unreadable file", frame.label));
        if (const char* problem = truncation_of(frame.encoded))
            throw BadFrame(fmt::format("'{}': {}", frame.label, problem));
        std::int64_t width = 0, height = 0;
        if (header_size(frame.encoded, width, height) && width * height > max_pixels_)
            throw BadFrame(fmt::format("'{}' claims {}x{} pixels, more than max_pixels ({})", frame.label, width,
                                       height, max_pixels_));
        try {
            cv::imdecode(frame.encoded, cv::IMREAD_COLOR, &frame.image);
        } catch (const cv::Exception& e) {
            throw BadFrame(fmt::format("'{}': {}", frame.label, e.msg));
        }
        if (frame.image.empty()) throw BadFrame(fmt::format("'{}' is not an image OpenCV can decode", frame.label));
        frame.format = PixelFormat::bgr;
        return Outcome::pass;
    }

private:
    std::int64_t max_pixels_;
};

}  // namespace

bool ImageSource::is_image_name(const std::string& path) {
    const std::string extension = lower(fs::path(path).extension().string());
    return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions),
                       [&](const char* e) { return extension == e; });
}

bool ImageSource::natural_less(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            std::size_t i_end = i, j_end = j;
            while (i_end < a.size() && std::isdigit(static_cast<unsigned char>(a[i_end]))) ++i_end;
            while (j_end < b.size() && std::isdigit(static_cast<unsigned char>(b[j_end]))) ++j_end;
            std::size_t i_sig = i, j_sig = j;  // skip leading zeros, then compare by length, then digits
            while (i_sig + 1 < i_end && a[i_sig] == '0') ++i_sig;
            while (j_sig + 1 < j_end && b[j_sig] == '0') ++j_sig;
            const std::size_t i_len = i_end - i_sig, j_len = j_end - j_sig;
            if (i_len != j_len) return i_len < j_len;
            const int cmp = a.compare(i_sig, i_len, b, j_sig, j_len);
            if (cmp != 0) return cmp < 0;
            if ((i_end - i) != (j_end - j)) return (i_end - i) < (j_end - j);  // fewer leading zeros first
            i = i_end;
            j = j_end;
        } else {
            const auto ca = std::tolower(static_cast<unsigned char>(a[i]));
            const auto cb = std::tolower(static_cast<unsigned char>(b[j]));
            if (ca != cb) return ca < cb;
            ++i;
            ++j;
        }
    }
    if ((a.size() - i) != (b.size() - j)) return (a.size() - i) < (b.size() - j);
    return a < b;
}

ImageSource::Listing ImageSource::list(const std::vector<std::string>& inputs, bool recursive) {
    Listing listing;
    const auto take = [&](const std::string& file) {
        (is_image_name(file) ? listing.files : listing.skipped).push_back(file);
    };
    for (const std::string& input : inputs) {
        std::vector<std::string> found;
        std::error_code ec;
        if (fs::is_directory(input, ec)) {
            if (recursive) {
                for (const auto& entry : fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec))
                    if (entry.is_regular_file(ec)) found.push_back(entry.path().string());
            } else {
                for (const auto& entry : fs::directory_iterator(input, ec))
                    if (entry.is_regular_file(ec)) found.push_back(entry.path().string());
            }
            if (ec) throw ConfigError(fmt::format("'{}': cannot list the folder: {}", input, ec.message()));
        } else if (has_glob_characters(input)) {
            glob_t matches{};
            const int ret = ::glob(input.c_str(), GLOB_NOSORT, nullptr, &matches);
            if (ret == 0)
                for (std::size_t i = 0; i < matches.gl_pathc; ++i)
                    if (!fs::is_directory(matches.gl_pathv[i], ec)) found.emplace_back(matches.gl_pathv[i]);
            globfree(&matches);
            if (found.empty()) throw ConfigError(fmt::format("'{}' matches no files", input));
        } else if (fs::exists(input, ec)) {
            found.push_back(input);
        } else {
            throw ConfigError(fmt::format("'{}': no such file or folder; check the path", input));
        }
        std::sort(found.begin(), found.end(), natural_less);
        for (const std::string& file : found) take(file);
    }
    return listing;
}

ImageSource::ImageSource(Options options) : options_(std::move(options)) {}
ImageSource::~ImageSource() = default;

SourceInfo ImageSource::open(std::stop_token) {
    if (options_.inputs.empty()) throw ConfigError("images: no folder, pattern or file given");
    if (options_.fps < 0) throw ConfigError(fmt::format("fps must be 0 or more, got {}", options_.fps));
    if (options_.max_pixels < 1) throw ConfigError("max_pixels must be at least 1");
    listing_ = list(options_.inputs, options_.recursive);
    next_ = 0;
    if (!listing_.skipped.empty()) {
        std::string names;
        for (std::size_t i = 0; i < listing_.skipped.size() && i < 5; ++i)
            names += (i ? ", " : "") + fs::path(listing_.skipped[i]).filename().string();
        spdlog::warn("{}: skipped {} file(s) that are not images: {}{}", options_.inputs.front(),
                     listing_.skipped.size(), names, listing_.skipped.size() > 5 ? ", ..." : "");
    }
    if (listing_.files.empty())
        throw ConfigError(fmt::format("'{}' contains no images (looked for {})", options_.inputs.front(),
                                      "jpg, png, bmp, tiff, webp, pnm, ..."));
    SourceInfo info;
    const fs::path first(options_.inputs.front());
    info.name = !options_.name.empty() ? options_.name
                : first.has_filename()  ? first.filename().string()
                                        : first.parent_path().filename().string();
    info.path = options_.inputs.front();
    info.fps = options_.fps > 0 ? options_.fps : 1.0;
    info.frame_count = static_cast<std::int64_t>(listing_.files.size());
    return info;
}

ReadResult ImageSource::read(Frame& frame, std::stop_token stop) {
    if (stop.stop_requested() || next_ >= listing_.files.size()) return ReadResult::end_of_stream;
    const std::size_t index = next_++;
    const std::string& path = listing_.files[index];
    frame.format = PixelFormat::encoded;
    frame.label = fs::path(path).filename().string();
    frame.encoded.clear();
    std::ifstream file(path, std::ios::binary | std::ios::ate);
    if (file) {  // an unreadable file leaves `encoded` empty: the decode stage rejects it by name
        const std::streamsize size = file.tellg();
        if (size > 0) {
            frame.encoded.resize(static_cast<std::size_t>(size));
            file.seekg(0);
            if (!file.read(reinterpret_cast<char*>(frame.encoded.data()), size)) frame.encoded.clear();
        }
    }
    const double fps = options_.fps > 0 ? options_.fps : 1.0;
    frame.media_time =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(static_cast<double>(index) / fps));
    return ReadResult::frame;
}

std::vector<std::unique_ptr<Stage>> ImageSource::decode_stages() {
    std::vector<std::unique_ptr<Stage>> stages;
    stages.push_back(std::make_unique<ImageDecode>(options_.max_pixels));
    return stages;
}

}  // namespace framepipe
