#include <framepipe/sources/image_source.hpp>

#include "../media/image_codecs.hpp"
#include "../media/image_file.hpp"
#include "../media/natural_order.hpp"
#include "../report/text_escape.hpp"

#include <framepipe/error.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/video_source.hpp>
#include <framepipe/stage.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

namespace framepipe {
namespace fs = std::filesystem;

namespace media {

namespace {

// Closes a descriptor when it goes out of scope.
struct Descriptor {
    int fd = -1;
    ~Descriptor() {
        if (fd >= 0) ::close(fd);
    }
};

// Buffers larger than this are given back after use instead of being kept with the pooled frame.
constexpr std::size_t kKeptCapacity = std::size_t{64} << 20;

}  // namespace

std::string read_file_bounded(const std::string& path, std::uint64_t max_bytes, std::vector<std::uint8_t>& out,
                              const std::function<void()>& between_stat_and_read) {
    out.clear();
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as not a regular file).
    Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
    if (file.fd < 0) {
        const int err = errno;
        if (err == ENOENT) return "vanished after it was listed";
        if (err == ELOOP) return "is a symbolic link loop";
        return fmt::format("cannot be opened: {}", std::strerror(err));
    }
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) return fmt::format("cannot be read: {}", std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return "is not a regular file (a FIFO, socket, device or folder)";
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size == 0) return "is empty";
    if (size > max_bytes)
        return fmt::format("is larger than max_file_mb ({} MB > {} MB); raise source.max_file_mb to read it",
                           (size + (1 << 20) - 1) >> 20, max_bytes >> 20);
    if (out.capacity() > kKeptCapacity && out.capacity() > 2 * size) std::vector<std::uint8_t>().swap(out);
    if (between_stat_and_read) between_stat_and_read();
    // One byte more than the size: a file that grew shows as a read past it.
    out.resize(static_cast<std::size_t>(size) + 1);
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(file.fd, out.data() + got, out.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            out.clear();
            return fmt::format("cannot be read: {}", std::strerror(err));
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got > size) {
        out.clear();
        return fmt::format("grew while it was read (past its {} bytes: still being written?)", size);
    }
    if (got < size) {
        out.clear();
        return fmt::format("shrank while it was read (from {} to {} bytes: truncated or replaced underneath)", size,
                           got);
    }
    out.resize(got);
    if (out.capacity() > kKeptCapacity) out.shrink_to_fit();
    return {};
}

std::optional<ImageSource::Dimensions> header_dimensions(const ReadAt& read_at) {
    std::uint8_t b[32];
    const std::size_t n = read_at(0, b, sizeof b);
    const auto be16 = [](const std::uint8_t* p) { return std::int64_t{p[0]} << 8 | p[1]; };
    const auto be32 = [](const std::uint8_t* p) {
        return std::int64_t{p[0]} << 24 | std::int64_t{p[1]} << 16 | std::int64_t{p[2]} << 8 | p[3];
    };
    const auto le16 = [](const std::uint8_t* p) { return std::int64_t{p[1]} << 8 | p[0]; };
    const auto le32 = [](const std::uint8_t* p) {
        return std::int64_t{p[3]} << 24 | std::int64_t{p[2]} << 16 | std::int64_t{p[1]} << 8 | p[0];
    };
    const auto is = [&](std::size_t at, const char* text) {
        const std::size_t len = std::strlen(text);
        return n >= at + len && std::memcmp(b + at, text, len) == 0;
    };
    using D = ImageSource::Dimensions;
    if (n >= 24 && b[0] == 0x89 && is(1, "PNG") && is(12, "IHDR")) return D{be32(b + 16), be32(b + 20)};
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) {
        // JPEG: walk the segment headers (4 bytes each) to the first frame header (SOFn); segment bodies are skipped.
        std::uint64_t at = 2;
        for (int segments = 0; segments < 4096; ++segments) {
            std::uint8_t m[9];
            if (read_at(at, m, 4) < 4 || m[0] != 0xFF) return std::nullopt;
            const std::uint8_t marker = m[1];
            if (marker == 0xFF) {  // fill byte
                ++at;
                continue;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
                at += 2;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) return std::nullopt;  // scan data or the end before a frame header
            if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
                if (read_at(at, m, 9) < 9) return std::nullopt;
                const std::int64_t height = be16(m + 5), width = be16(m + 7);
                if (height == 0 || width == 0) return std::nullopt;  // height given later (DNL): unknown here
                return D{width, height};
            }
            const std::int64_t length = be16(m + 2);
            if (length < 2) return std::nullopt;
            at += 2 + static_cast<std::uint64_t>(length);
        }
        return std::nullopt;
    }
    if (n >= 26 && is(0, "BM")) {
        if (le32(b + 14) == 12) return D{le16(b + 18), le16(b + 20)};  // OS/2 BITMAPCOREHEADER
        const auto width = static_cast<std::int32_t>(le32(b + 18)), height = static_cast<std::int32_t>(le32(b + 22));
        return D{std::abs(std::int64_t{width}), std::abs(std::int64_t{height})};  // negative height: top-down rows
    }
    if (n >= 30 && is(0, "RIFF") && is(8, "WEBP")) {
        if (is(12, "VP8 ")) return D{le16(b + 26) & 0x3FFF, le16(b + 28) & 0x3FFF};
        if (is(12, "VP8L") && b[20] == 0x2F) {
            const std::int64_t bits = le32(b + 21);
            return D{(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
        }
        if (is(12, "VP8X")) {
            const auto le24 = [](const std::uint8_t* p) { return std::int64_t{p[2]} << 16 | std::int64_t{p[1]} << 8 | p[0]; };
            return D{le24(b + 24) + 1, le24(b + 27) + 1};
        }
        return std::nullopt;
    }
    if (n >= 8 && (is(0, "II*") || (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 42))) {
        // TIFF: the first image file directory's ImageWidth (256) and ImageLength (257) entries.
        const bool little = b[0] == 'I';
        const auto u16 = [&](const std::uint8_t* p) { return little ? le16(p) : be16(p); };
        const auto u32 = [&](const std::uint8_t* p) { return little ? le32(p) : be32(p); };
        const auto ifd = static_cast<std::uint64_t>(u32(b + 4));
        std::uint8_t count_bytes[2];
        if (read_at(ifd, count_bytes, 2) < 2) return std::nullopt;
        const std::int64_t count = std::min<std::int64_t>(u16(count_bytes), 1000);
        std::int64_t width = 0, height = 0;
        for (std::int64_t i = 0; i < count && (width == 0 || height == 0); ++i) {
            std::uint8_t e[12];
            if (read_at(ifd + 2 + 12 * static_cast<std::uint64_t>(i), e, 12) < 12) return std::nullopt;
            const std::int64_t tag = u16(e), type = u16(e + 2);
            const std::int64_t value = type == 3 ? u16(e + 8) : type == 4 ? u32(e + 8) : 0;
            if (tag == 256) width = value;
            if (tag == 257) height = value;
        }
        if (width == 0 || height == 0) return std::nullopt;
        return D{width, height};
    }
    if (n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') {
        // PNM: "P6 <width> <height> ..." in ASCII, with # comments to the end of a line.
        std::uint8_t text[1024];
        const std::size_t len = read_at(0, text, sizeof text);
        std::int64_t values[2] = {0, 0};
        std::size_t at = 2;
        for (std::int64_t& value : values) {
            while (at < len && (std::isspace(text[at]) || text[at] == '#')) {
                if (text[at] == '#')
                    while (at < len && text[at] != '\n') ++at;
                else
                    ++at;
            }
            if (at >= len || !std::isdigit(text[at])) return std::nullopt;
            for (; at < len && std::isdigit(text[at]); ++at)  // the whole number, its value held at 2^40 and above
                if (value < (std::int64_t{1} << 40)) value = value * 10 + (text[at] - '0');
        }
        return D{values[0], values[1]};
    }
    if (n >= 12 && b[0] == 0x59 && b[1] == 0xA6 && b[2] == 0x6A && b[3] == 0x95)  // Sun raster
        return D{be32(b + 4), be32(b + 8)};
    if (is(0, "#?RADIANCE") || is(0, "#?RGBE")) {
        // Radiance HDR: header lines, an empty line, then the resolution line, e.g. "-Y 480 +X 640" (Y first: rows).
        char text[4096];
        const std::size_t len = read_at(0, reinterpret_cast<std::uint8_t*>(text), sizeof text);
        const std::string_view header(text, len);
        const std::size_t end = header.find("\n\n");
        if (end == std::string_view::npos) return std::nullopt;
        std::size_t at = end + 2;
        std::int64_t values[2] = {0, 0};
        char axes[2] = {0, 0};
        for (int i = 0; i < 2; ++i) {
            if (at + 3 > len || (text[at] != '-' && text[at] != '+') || (text[at + 1] != 'X' && text[at + 1] != 'Y') ||
                text[at + 2] != ' ')
                return std::nullopt;
            axes[i] = text[at + 1];
            at += 3;
            if (at >= len || !std::isdigit(static_cast<unsigned char>(text[at]))) return std::nullopt;
            for (; at < len && std::isdigit(static_cast<unsigned char>(text[at])); ++at)
                if (values[i] < (std::int64_t{1} << 40)) values[i] = values[i] * 10 + (text[at] - '0');
            if (i == 0 && (at >= len || text[at++] != ' ')) return std::nullopt;
        }
        if (axes[0] == axes[1]) return std::nullopt;
        return axes[0] == 'Y' ? D{values[1], values[0]} : D{values[0], values[1]};
    }
    if (n >= 8 && b[0] == 0x76 && b[1] == 0x2F && b[2] == 0x31 && b[3] == 0x01) {
        // OpenEXR: header attributes (name, type name, size, value) up to an empty name; the picture is the
        // dataWindow box (xMin, yMin, xMax, yMax, inclusive).
        std::uint64_t at = 8;
        const auto read_name = [&](std::string& out) {
            char text[256];
            const std::size_t len = read_at(at, reinterpret_cast<std::uint8_t*>(text), sizeof text);
            const auto* nul = static_cast<const char*>(std::memchr(text, 0, len));
            if (nul == nullptr) return false;
            out.assign(text, static_cast<std::size_t>(nul - text));
            at += out.size() + 1;
            return true;
        };
        for (int attributes = 0; attributes < 1024; ++attributes) {
            std::string name, type;
            std::uint8_t size_bytes[4];
            if (!read_name(name) || name.empty() || !read_name(type) || read_at(at, size_bytes, 4) < 4)
                return std::nullopt;
            at += 4;
            const auto size = static_cast<std::int32_t>(le32(size_bytes));
            if (size < 0) return std::nullopt;
            if (name == "dataWindow" && type == "box2i" && size == 16) {
                std::uint8_t box[16];
                if (read_at(at, box, 16) < 16) return std::nullopt;
                const auto corner = [&](int i) { return std::int64_t{static_cast<std::int32_t>(le32(box + 4 * i))}; };
                const std::int64_t width = corner(2) - corner(0) + 1, height = corner(3) - corner(1) + 1;
                if (width <= 0 || height <= 0) return std::nullopt;
                return D{width, height};
            }
            at += static_cast<std::uint64_t>(size);
        }
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace media

namespace {

const char* const kImageExtensions[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                                        ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".exr", ".hdr", ".pic"};

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

bool has_glob_characters(const std::string& text) { return text.find_first_of("*?[") != std::string::npos; }

std::string shown(const std::string& path) { return displayable_name(path); }

// Why a listed entry cannot be read as a file, or "" when it looks like one. Sets `is_folder` for folders and links
// to folders, which are not entries.
std::string listing_problem(const std::string& path, bool& is_folder) {
    is_folder = false;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            is_folder = true;
            return {};
        }
        return S_ISREG(st.st_mode) ? "" : "is not a regular file (a FIFO, socket or device)";
    }
    const int err = errno;
    struct stat link {};
    const bool is_link = ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
    if (err == ELOOP) return "is a symbolic link loop";
    if ((err == ENOENT || err == ENOTDIR) && is_link) return "is a dangling symbolic link (its target does not exist)";
    if (err == ENOENT) return "vanished while the folder was listed";
    return fmt::format("cannot be examined: {}", std::strerror(err));
}

// Appends the entries of `folder` (and, when recursive, of its sub-folders, not through symbolic links) to `found`.
// A top-level folder that cannot be listed is a ConfigError; a sub-folder is named in a warning and left out.
void list_folder(const fs::path& folder, bool recursive, bool top, std::vector<std::string>& found) {
    const auto failed = [&](const std::error_code& ec) {
        if (top) throw ConfigError(fmt::format("'{}': cannot list the folder: {}", shown(folder.string()), ec.message()));
        spdlog::warn("'{}': cannot list the sub-folder, so its files are left out: {}", shown(folder.string()),
                     ec.message());
    };
    std::error_code ec;
    fs::directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
    if (ec) return failed(ec);
    for (const fs::directory_iterator end; it != end;) {
        std::error_code type_ec;
        const bool real_folder = it->symlink_status(type_ec).type() == fs::file_type::directory;
        if (!real_folder) found.push_back(it->path().string());
        else if (recursive) list_folder(it->path(), true, false, found);
        it.increment(ec);
        if (ec) return failed(ec);
    }
}

// A reason the source found while listing or reading a file, carried by its frame to the decode stage, which rejects
// the frame naming the file. Lives with the pooled frame; cleared when the frame is recycled.
class ReadProblem final : public FrameAttachment {
public:
    std::string reason;  // follows the file's name: "is a symbolic link loop"; empty when there is none
    void reset() noexcept override { reason.clear(); }
    void copy_to(Frame& target) const override { target.attach<ReadProblem>().reason = reason; }
};

ReadProblem* problem_of(const Frame& frame) { return frame.find<ReadProblem>(); }

// A JPEG must end with its EOI marker and a PNG with its IEND chunk: OpenCV decodes cut-off files without complaint.
const char* truncation_of(const std::vector<std::uint8_t>& data) {
    const std::size_t n = data.size();
    if (n >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
        // Allow trailing padding after EOI.
        std::size_t end = n;
        while (end > 2 && (data[end - 1] == 0x00 || data[end - 1] == 0x0A || data[end - 1] == 0x0D)) --end;
        if (end < 4 || data[end - 2] != 0xFF || data[end - 1] != 0xD9) return "is cut off (a JPEG without its end-of-image marker)";
    }
    if (n >= 8 && data[0] == 0x89 && data[1] == 'P' && data[2] == 'N' && data[3] == 'G') {
        static const std::uint8_t iend[] = {'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
        if (n < 12 || !std::equal(std::begin(iend), std::end(iend), data.end() - 8))
            return "is cut off (a PNG without its IEND chunk)";
    }
    return nullptr;
}

// Image bytes (Frame::encoded) to BGR, in parallel. Rejects (BadFrame) every file it cannot use, naming it and the
// reason, and tallies the reasons for one summary at close. process() is thread-safe; the tally is under a mutex.
class ImageDecode final : public Stage {
public:
    explicit ImageDecode(std::int64_t max_pixels)
        : Stage({.name = "decode", .parallel = true}), max_pixels_(max_pixels) {}

    void open(const StageContext& context) override {
        source_ = context.source.name;
        media::load_image_codecs();  // now, not on the first file: a slow load would hold the first frame up
    }

    Outcome process(Frame& frame) override {
        if (frame.format != PixelFormat::encoded) throw BadFrame("decode expects compressed input");
        if (const ReadProblem* problem = problem_of(frame); problem != nullptr && !problem->reason.empty())
            reject(frame, problem->reason);
        if (frame.encoded.empty()) reject(frame, "is empty or cannot be read");
        if (const char* cut = truncation_of(frame.encoded)) reject(frame, cut);
        const auto dimensions = media::header_dimensions([&](std::uint64_t at, std::uint8_t* out, std::size_t n) {
            if (at >= frame.encoded.size()) return std::size_t{0};
            n = std::min<std::size_t>(n, frame.encoded.size() - static_cast<std::size_t>(at));
            std::memcpy(out, frame.encoded.data() + at, n);
            return n;
        });
        // OpenCV picks its decoder by content, whatever the name: only formats whose header framepipe reads get to it,
        // so max_pixels is checked before every decode, and decoders framepipe does not offer (DICOM through GDCM,
        // which aborts the process on some damaged files; JPEG 2000, which expands a few hundred bytes into any size)
        // never see a file.
        if (!dimensions)
            reject(frame, "is not in a format framepipe reads (by its content: PNG, JPEG, BMP, WebP, TIFF, PNM, Sun "
                          "raster, Radiance HDR, OpenEXR), or its header is damaged");
        // width * height can exceed int64 (a PNG states up to 2^32 - 1 each): compared by division, never multiplied.
        if (dimensions->width > 0 && dimensions->height > max_pixels_ / dimensions->width)
            reject(frame, fmt::format("claims more pixels than max_pixels ({}x{} > {}); raise source.max_pixels to "
                                      "read it",
                                      dimensions->width, dimensions->height, max_pixels_));
        try {
            media::decode_image(frame.encoded, cv::IMREAD_COLOR, frame.image);
        } catch (const cv::Exception& e) {
            reject(frame, fmt::format("is not an image OpenCV can decode: {}", e.msg));
        }
        if (frame.image.empty()) reject(frame, "is not an image OpenCV can decode");
        frame.format = PixelFormat::bgr;
        return Outcome::pass;
    }

    void close() override {
        const std::lock_guard lock(mutex_);
        if (rejected_ == 0) return;
        std::string reasons;
        for (const auto& [kind, count] : kinds_) reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", count, kind);
        spdlog::warn("{}: decode: rejected {} image file(s): {} (first: {})", source_, rejected_, reasons,
                     fmt::join(first_, ", "));
    }

private:
    [[noreturn]] void reject(const Frame& frame, const std::string& reason) {
        {
            const std::lock_guard lock(mutex_);
            ++rejected_;
            ++kinds_[reason.substr(0, std::min({reason.find(" ("), reason.find(':'), reason.find(';')}))];
            if (first_.size() < 5) first_.push_back(fmt::format("'{}'", frame.label));
        }
        throw BadFrame(fmt::format("'{}' {}", frame.label, reason));
    }

    std::int64_t max_pixels_;
    std::string source_;
    std::mutex mutex_;
    std::uint64_t rejected_ = 0;
    std::map<std::string, std::uint64_t> kinds_;  // reason without its details -> files
    std::vector<std::string> first_;
};

}  // namespace

bool ImageSource::is_image_name(const std::string& path) {
    const std::string extension = lower(fs::path(path).extension().string());
    return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions),
                       [&](const char* e) { return extension == e; });
}

ImageSource::Listing ImageSource::list(const std::vector<std::string>& inputs, bool recursive) {
    Listing listing;
    for (const std::string& input : inputs) {
        std::vector<std::string> found;
        struct stat st {};
        if (::stat(input.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            list_folder(input, recursive, true, found);
        } else if (has_glob_characters(input)) {
            glob_t matches{};
            if (::glob(input.c_str(), GLOB_NOSORT, nullptr, &matches) == 0)
                for (std::size_t i = 0; i < matches.gl_pathc; ++i) found.emplace_back(matches.gl_pathv[i]);
            globfree(&matches);
            if (found.empty()) throw ConfigError(fmt::format("'{}' matches no files", shown(input)));
        } else if (::stat(input.c_str(), &st) == 0) {
            found.push_back(input);
        } else if (errno == ELOOP) {
            throw ConfigError(fmt::format("'{}' is a symbolic link loop; check the path", shown(input)));
        } else {
            throw ConfigError(fmt::format("'{}': no such file or folder; check the path", shown(input)));
        }
        std::sort(found.begin(), found.end(), media::natural_less);
        for (std::string& file : found) {
            bool is_folder = false;
            std::string problem = listing_problem(file, is_folder);
            if (is_folder) continue;
            if (is_image_name(file)) listing.images.push_back({std::move(file), std::move(problem)});
            else listing.skipped.push_back(std::move(file));
        }
    }
    return listing;
}

std::optional<ImageSource::Dimensions> ImageSource::header_dimensions(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) throw Error(fmt::format("'{}' cannot be opened: {}", shown(path), std::strerror(errno)));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        throw Error(fmt::format("'{}' is not a regular file", shown(path)));
    return media::header_dimensions([fd](std::uint64_t at, std::uint8_t* out, std::size_t n) {
        std::size_t got = 0;
        while (got < n) {
            const ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(at + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += static_cast<std::size_t>(r);
        }
        return got;
    });
}

ImageSource::ImageSource(Options options) : options_(std::move(options)) {}
ImageSource::~ImageSource() = default;

SourceInfo ImageSource::open(std::stop_token) {
    if (options_.inputs.empty()) throw ConfigError("images: no folder, pattern or file given");
    if (options_.fps < 0) throw ConfigError(fmt::format("fps must be 0 or more, got {}", options_.fps));
    if (options_.max_pixels < 1) throw ConfigError("max_pixels must be at least 1");
    if (options_.max_file_mb < 1) throw ConfigError("max_file_mb must be at least 1");
    listing_ = list(options_.inputs, options_.recursive);
    next_ = 0;
    if (!listing_.skipped.empty()) {
        std::string names;
        for (std::size_t i = 0; i < listing_.skipped.size() && i < 5; ++i)
            names += (i ? ", " : "") + shown(fs::path(listing_.skipped[i]).filename().string());
        spdlog::warn("{}: skipped {} file(s) that are not images: {}{}", shown(options_.inputs.front()),
                     listing_.skipped.size(), names, listing_.skipped.size() > 5 ? ", ..." : "");
    }
    if (listing_.images.empty())
        throw ConfigError(fmt::format("'{}' contains no images (looked for {})", shown(options_.inputs.front()),
                                      "jpg, png, bmp, tiff, webp, pnm, ..."));
    SourceInfo info;
    const fs::path first(options_.inputs.front());
    info.name = displayable_name(!options_.name.empty() ? options_.name
                                 : first.has_filename()  ? first.filename().string()
                                                         : first.parent_path().filename().string());
    info.path = options_.inputs.front();
    info.fps = options_.fps > 0 ? options_.fps : 1.0;
    info.frame_count = static_cast<std::int64_t>(listing_.images.size());
    return info;
}

ReadResult ImageSource::read(Frame& frame, std::stop_token stop) {
    if (stop.stop_requested() || next_ >= listing_.images.size()) return ReadResult::end_of_stream;
    const std::size_t index = next_++;
    const Entry& entry = listing_.images[index];
    frame.format = PixelFormat::encoded;
    frame.label = displayable_name(fs::path(entry.path).filename().string());
    ReadProblem* problem = &frame.attach<ReadProblem>();
    // A file that cannot be used still becomes a frame: the decode stage rejects it by name, so it is counted.
    problem->reason = entry.problem;
    if (problem->reason.empty())
        problem->reason = media::read_file_bounded(entry.path, static_cast<std::uint64_t>(options_.max_file_mb) << 20,
                                                   frame.encoded);
    else
        frame.encoded.clear();
    const double fps = options_.fps > 0 ? options_.fps : 1.0;
    frame.media_time = duration_from_seconds(static_cast<double>(index) / fps);
    return ReadResult::frame;
}

std::vector<std::unique_ptr<Stage>> ImageSource::decode_stages() {
    std::vector<std::unique_ptr<Stage>> stages;
    stages.push_back(std::make_unique<ImageDecode>(options_.max_pixels));
    return stages;
}

}  // namespace framepipe

// ---- declaration ----------------------------------------------------------------------------------------------------

namespace framepipe {
namespace {

bool is_url(const std::string& input) { return VideoSource::kind_of(input) == VideoSource::Kind::stream; }

using K = OptionKind;
const bool image_source_declared = declare_source({
    .type = "images",
    .summary = "A folder of images, a glob pattern or image files, in natural order",
    .example = "framepipe run p.yaml photos/ 'shots/*.png' cover.jpg",
    .runs_on = "source thread + parallel decode stage",
    .options = {{"fps", K::number, "0", "Media time per image (1/fps); 0 = one second each", 0, 1000},
                {"max_pixels", K::integer, "100000000", "Reject images claiming more pixels", 1, 1e12},
                {"max_file_mb", K::integer, "512", "Reject larger image files unread (MB of 2^20 bytes)", 1, 1e6},
                {"recursive", K::boolean, "false", "Descend into sub-folders"}},
    .claims =
        [](const std::string& input) {
            std::error_code ec;
            const bool ours = !is_url(input) &&
                              (input.ends_with('/') || std::filesystem::is_directory(input, ec) ||
                               input.find_first_of("*?[") != std::string::npos || ImageSource::is_image_name(input));
            return ours ? 10 : 0;
        },
    .refuses =
        [](const std::string& input) {
            if (is_url(input))
                throw ConfigError(fmt::format("input '{}' is a URL, but the source type is images (folders, patterns "
                                              "and image files); remove 'type: images' or give a folder",
                                              VideoSource::redacted(input)));
        },
    .make =
        [](const SourceInput& input, const OptionValues& o) {
            ImageSource::Options s;
            s.inputs = {input.path};
            s.fps = o.number("fps");
            s.max_pixels = o.integer("max_pixels");
            s.max_file_mb = o.integer("max_file_mb");
            s.recursive = o.boolean("recursive");
            s.name = input.name;
            return std::unique_ptr<Source>(std::make_unique<ImageSource>(s));
        },
    .list_order = 200,
});

}  // namespace
}  // namespace framepipe
