#include "damage.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <random>
#include <stdexcept>
#include <vector>

namespace framepipe::test {
namespace fs = std::filesystem;

void truncate_to(const fs::path& path, double fraction) {
    fs::resize_file(path, static_cast<std::uintmax_t>(static_cast<double>(fs::file_size(path)) * fraction));
}

void garble(const fs::path& path, double from, double to, int count, std::uint32_t seed) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    if (!file) throw std::runtime_error("garble: cannot open " + path.string());
    const auto size = static_cast<double>(fs::file_size(path));
    std::mt19937 random(seed);
    std::uniform_int_distribution<std::uint64_t> where(static_cast<std::uint64_t>(size * from),
                                                       static_cast<std::uint64_t>(size * to) - 1);
    std::uniform_int_distribution<int> value(0, 255);
    for (int i = 0; i < count; ++i) {
        file.seekp(static_cast<std::streamoff>(where(random)));
        file.put(static_cast<char>(value(random)));
    }
}

// PNG: the IHDR chunk's width and height (big-endian, bytes 16..23) and its CRC (bytes 29..32) rewritten.
void write_png_claiming(const fs::path& path, std::uint32_t width, std::uint32_t height) {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(10, 200, 30)), png);
    const auto put32 = [&](std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) png[at + i] = static_cast<uchar>(v >> (24 - 8 * i));
    };
    put32(16, width);
    put32(20, height);
    std::uint32_t crc = 0xFFFFFFFFu;  // CRC-32 over the chunk type and data (bytes 12..28)
    for (std::size_t i = 12; i < 29; ++i) {
        crc ^= png[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    put32(29, crc ^ 0xFFFFFFFFu);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(png.data()),
                                                static_cast<std::streamsize>(png.size()));
}

}  // namespace framepipe::test
