#include "image_output.hpp"

#include "../media/image_codecs.hpp"
#include "../media/natural_order.hpp"
#include "../report/text_escape.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>
#include <framepipe/sources/image_source.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <system_error>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace framepipe::stages {
namespace fs = std::filesystem;

namespace {

constexpr const char* kTemporaryPrefix = ".framepipe-";
constexpr std::uint64_t kNotedLimit = 5;  // renames and shortenings logged per output; the rest are counted

std::string extension_of(const std::string& name) {
    std::string ext = fs::path(name).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext;
}

std::vector<int> encode_parameters(const std::string& ext, int quality) {
    if (ext == ".jpg" || ext == ".jpeg") return {cv::IMWRITE_JPEG_QUALITY, quality};
    if (ext == ".webp") return {cv::IMWRITE_WEBP_QUALITY, quality};
    if (ext == ".png") return {cv::IMWRITE_PNG_COMPRESSION, std::clamp(9 - quality / 11, 0, 9)};  // 100 -> 0 (fast)
    return {};
}

// "name.jpg", 3 -> "name-3.jpg"; 1 -> "name.jpg".
std::string with_suffix(const std::string& name, std::uint64_t n) {
    if (n <= 1) return name;
    const std::size_t dot = name.find_last_of('.');
    if (dot == std::string::npos || dot == 0) return fmt::format("{}-{}", name, n);
    return fmt::format("{}-{}{}", name.substr(0, dot), n, name.substr(dot));
}

std::uint64_t hash_of(std::string_view text) {
    std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
    for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return hash;
}

// The names every ImageOutput of the process has written, or is writing, as hashes of folder + name. A collision of
// two hashes only costs a suffix. Thread-safe through its mutex.
struct Registry {
    std::mutex mutex;
    std::unordered_set<std::uint64_t> taken;
};
Registry& registry() {
    static Registry instance;
    return instance;
}

// Whether `name` is one the template could render for this input: the literals in order with any text in the gaps,
// then an optional -N suffix before the extension; or a shortened form (fit_file_name) starting like the template.
bool could_write(const std::string& name, const std::vector<std::string>& literals) {
    const auto matches = [&](std::string_view text) {
        const std::string& first = literals.front();
        const std::string& last = literals.back();
        if (literals.size() == 1) return text == first;
        if (text.size() < first.size() + last.size() || text.substr(0, first.size()) != first ||
            text.substr(text.size() - last.size()) != last)
            return false;
        std::size_t at = first.size();
        const std::size_t end = text.size() - last.size();
        for (std::size_t i = 1; i + 1 < literals.size(); ++i) {
            const std::size_t found = text.substr(0, end).find(literals[i], at);
            if (found == std::string_view::npos) return false;
            at = found + literals[i].size();
        }
        return true;
    };
    if (matches(name)) return true;
    const std::size_t dot = name.find_last_of('.');
    if (dot != std::string::npos) {  // "stem-N.ext" -> "stem.ext"
        std::size_t dash = dot;
        while (dash > 0 && std::isdigit(static_cast<unsigned char>(name[dash - 1]))) --dash;
        if (dash < dot && dash > 0 && name[dash - 1] == '-' && matches(name.substr(0, dash - 1) + name.substr(dot)))
            return true;
    }
    if (looks_shortened(name)) {  // its start is the template's start, as far as the name reaches before the mark
        const std::string_view start = std::string_view(literals.front()).substr(0, name.find('~'));
        return name.compare(0, start.size(), start) == 0;
    }
    return false;
}

// Creates a temporary file of its own in `dir` (O_EXCL with a random name): concurrent writers, in this process or
// another, never share one. Returns its path; `fd` is open for writing.
std::string create_temporary(const std::string& dir, int& fd) {
    thread_local std::mt19937_64 random = [] {
        std::random_device device;
        return std::mt19937_64((std::uint64_t{device()} << 32) ^ device());
    }();
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string path = fmt::format("{}/{}{:016x}.part", dir, kTemporaryPrefix, random());
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) return path;
        if (errno != EEXIST)
            throw Error(fmt::format("cannot write into '{}': {}", displayable_name(dir), std::strerror(errno)));
    }
    throw Error(fmt::format("cannot create a temporary file in '{}'", displayable_name(dir)));
}

}  // namespace

ImageOutput::ImageOutput(std::string dir, std::string name_template, int quality, bool overwrite)
    : dir_(dir.empty() ? std::string(".") : std::move(dir)),
      name_template_(std::move(name_template)),
      quality_(quality),
      overwrite_(overwrite) {
    validate_template(name_template_, "file");
    if (name_template_.find('/') != std::string::npos)
        throw ConfigError(fmt::format("file name '{}' must not contain '/'; put folders in dir", name_template_));
    const std::string ext = extension_of(name_template_);
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".webp" && ext != ".bmp" && ext != ".tif" &&
        ext != ".tiff")
        throw ConfigError(fmt::format("file name '{}' must end in .jpg, .png, .webp, .bmp or .tiff", name_template_));
}

ImageOutput::~ImageOutput() {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    for (const std::uint64_t claim : claims_) r.taken.erase(claim);
}

void ImageOutput::prepare() {
    if (!media::encodes_without_plugin(extension_of(name_template_))) media::load_image_codecs();
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec)
        throw ConfigError(fmt::format("cannot create the output folder '{}': {}", displayable_name(dir_), ec.message()));
    if (::access(dir_.c_str(), W_OK | X_OK) != 0)
        throw ConfigError(fmt::format("cannot write to the output folder '{}': {}; choose another dir",
                                      displayable_name(dir_), std::strerror(errno)));
    const fs::path canonical = fs::weakly_canonical(dir_, ec);
    folder_key_ = (ec ? fs::absolute(dir_) : canonical).string() + '/';
    const long name_max = ::pathconf(dir_.c_str(), _PC_NAME_MAX);
    name_max_ = name_max > 0 ? static_cast<std::size_t>(name_max) : kNameMax;
}

void ImageOutput::prepare(std::string_view input) {
    prepare();
    if (overwrite_ || template_uses(name_template_, "clock")) return;
    const std::vector<std::string> literals = template_literals(name_template_, input);
    std::vector<std::string> existing;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.rfind(kTemporaryPrefix, 0) != 0 && could_write(name, literals)) existing.push_back(std::move(name));
    }
    if (ec)
        throw ConfigError(fmt::format("cannot list the output folder '{}': {}", displayable_name(dir_), ec.message()));
    if (existing.empty()) return;
    const auto first = std::min_element(existing.begin(), existing.end(), media::natural_less);
    throw ConfigError(fmt::format(
        "'{}' already exists{}, and this run writes '{}' there; set overwrite: true, or choose another dir",
        displayable_name((fs::path(dir_) / *first).string()),
        existing.size() > 1 ? fmt::format(" (and {} more such file(s))", existing.size() - 1) : "", name_template_));
}

bool ImageOutput::claim_locked(const std::string& name) {
    const std::uint64_t key = hash_of(folder_key_ + name);
    if (!registry().taken.insert(key).second) return false;
    claims_.push_back(key);
    return true;
}

bool ImageOutput::place(const std::string& temporary, const std::string& name) const {
    const std::string path = (fs::path(dir_) / name).string();
    if (overwrite_) {
        if (std::rename(temporary.c_str(), path.c_str()) == 0) return true;
    } else {
        if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return true;
        if (errno == EEXIST) return false;
        if (errno == EINVAL || errno == ENOSYS) {  // a file system without RENAME_NOREPLACE: link() fails if it exists
            if (::link(temporary.c_str(), path.c_str()) == 0) {
                ::unlink(temporary.c_str());
                return true;
            }
            if (errno == EEXIST) return false;
        }
    }
    const int err = errno;
    ::unlink(temporary.c_str());
    throw Error(fmt::format("cannot write '{}': {}", displayable_name(path), std::strerror(err)));
}

std::string ImageOutput::write(const cv::Mat& image, const std::string& file_name) {
    std::string requested = file_name;
    std::replace(requested.begin(), requested.end(), '/', '_');
    std::replace(requested.begin(), requested.end(), '\0', '_');
    const std::string ext = extension_of(requested);
    thread_local std::vector<uchar> encoded;
    if (!media::encode_image(ext, image, encode_parameters(ext, quality_), encoded))
        throw Error(fmt::format("cannot encode '{}'", displayable_name((fs::path(dir_) / requested).string())));

    int fd = -1;
    const std::string temporary = create_temporary(dir_, fd);
    std::size_t done = 0;
    while (done < encoded.size()) {
        const ssize_t n = ::write(fd, encoded.data() + done, encoded.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(temporary.c_str());
            throw Error(fmt::format("cannot write '{}': {}", displayable_name((fs::path(dir_) / requested).string()),
                                    std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(temporary.c_str());
        throw Error(fmt::format("cannot write '{}': {}", displayable_name((fs::path(dir_) / requested).string()),
                                std::strerror(err)));
    }

    Registry& r = registry();
    std::unique_lock lock(r.mutex);
    const auto collided = next_suffix_.find(requested);
    for (std::uint64_t n = collided == next_suffix_.end() ? 1 : collided->second;; ++n) {
        const std::string name = fit_file_name(with_suffix(requested, n), name_max_);
        if (!claim_locked(name)) continue;
        lock.unlock();
        const bool placed = place(temporary, name);  // the claim is kept either way: the name is taken
        lock.lock();
        if (!placed) continue;
        if (n > 1) {
            next_suffix_[requested] = n + 1;
            renamed_.fetch_add(1, std::memory_order_relaxed);
        }
        if ((n > 1 || name != requested) && noted_.fetch_add(1, std::memory_order_relaxed) < kNotedLimit) {
            if (n > 1)
                spdlog::warn("'{}' was already written by this run (two frames give that name); wrote '{}' instead",
                             displayable_name((fs::path(dir_) / fit_file_name(requested, name_max_)).string()),
                             displayable_name(name));
            else
                spdlog::warn("'{}' is longer than the {} bytes a file name may have; wrote '{}' (its start and a "
                             "hash of the whole name)",
                             displayable_name(requested), name_max_, displayable_name(name));
        }
        return name;
    }
}

}  // namespace framepipe::stages
