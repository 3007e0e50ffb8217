#include "media.hpp"

#include <framepipe/sources/synthetic_source.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <sys/wait.h>

namespace framepipe::test {

namespace {
constexpr int kBits = 16;

cv::Rect block(int bit, cv::Size size) {
    const int w = size.width / kBits;
    const int h = std::max(8, size.height / 6);
    return {bit * w, size.height - h, w, h};
}

std::string capture(const std::string& command) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return out;
    std::array<char, 256> buffer{};
    while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
    pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}
}  // namespace

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

cv::Mat decode_picture(const std::string& bytes) {
    return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data())),
                        cv::IMREAD_COLOR);
}

cv::Mat numbered_frame(int number, cv::Size size) {
    cv::Mat frame(size, CV_8UC3);
    // A smooth moving gradient above the code, so encoders have something real to work on.
    for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x)
            frame.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((x + number * 3) & 0xff),
                                                  static_cast<uchar>((y * 2) & 0xff), static_cast<uchar>(128));
    for (int bit = 0; bit < kBits; ++bit)
        cv::rectangle(frame, block(bit, size), ((number >> bit) & 1) ? cv::Scalar::all(255) : cv::Scalar::all(0),
                      cv::FILLED);
    return frame;
}

int read_number(const cv::Mat& bgr) {
    if (bgr.empty() || bgr.type() != CV_8UC3) return -1;
    int number = 0;
    for (int bit = 0; bit < kBits; ++bit) {
        cv::Rect r = block(bit, bgr.size());
        r = cv::Rect(r.x + r.width / 4, r.y + r.height / 4, std::max(1, r.width / 2), std::max(1, r.height / 2));
        const double mean = cv::mean(bgr(r))[1];
        if (mean > 170) number |= 1 << bit;
        else if (mean > 85) return -1;  // neither black nor white: not one of ours
    }
    return number;
}

void write_video(const std::string& path, const VideoSpec& spec) {
    const std::string command =
        fmt::format("ffmpeg -v error -y -f rawvideo -pix_fmt bgr24 -s {}x{} -r {} -i - {} '{}'", spec.size.width,
                    spec.size.height, spec.fps, spec.codec, path);
    FILE* pipe = popen(command.c_str(), "w");
    if (pipe == nullptr) throw std::runtime_error("cannot start ffmpeg");
    for (int i = 0; i < spec.frames; ++i) {
        const cv::Mat frame = spec.draw ? spec.draw(i, spec.size) : numbered_frame(i, spec.size);
        fwrite(frame.data, 1, frame.total() * frame.elemSize(), pipe);
    }
    const int status = pclose(pipe);
    if (status != 0) throw std::runtime_error(fmt::format("ffmpeg failed writing {} ({})", path, command));
}

std::vector<std::string> write_images(const std::string& dir, int count, cv::Size size, const std::string& extension,
                                      const std::string& prefix) {
    std::vector<std::string> paths;
    for (int i = 0; i < count; ++i) {
        const std::string path = fmt::format("{}/{}{}.{}", dir, prefix, i, extension);
        if (!cv::imwrite(path, numbered_frame(i, size))) throw std::runtime_error("cannot write " + path);
        paths.push_back(path);
    }
    return paths;
}

std::int64_t ffprobe_frame_count(const std::string& path) {
    std::string out = capture(fmt::format(
        "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 '{}'",
        path));
    out = out.substr(0, out.find('\n'));
    try {
        return out.empty() ? -1 : std::stoll(out);
    } catch (...) {
        return -1;
    }
}

std::vector<std::int64_t> burned_numbers_in_video(const std::string& path) {
    std::vector<std::int64_t> numbers;
    cv::VideoCapture capture(path);
    for (cv::Mat picture; capture.read(picture);) numbers.push_back(SyntheticSource::burned_number_of(picture));
    return numbers;
}

std::vector<std::int64_t> burned_numbers_in_images(const std::string& dir) {
    std::vector<std::int64_t> numbers;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
        if (entry.path().extension() == ".bmp")
            if (const cv::Mat picture = cv::imread(entry.path().string()); !picture.empty())
                numbers.push_back(SyntheticSource::burned_number_of(picture));
    std::sort(numbers.begin(), numbers.end());
    return numbers;
}

std::int64_t images_in(const std::string& dir) {
    std::int64_t n = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) n += entry.path().extension() == ".bmp";
    return n;
}

std::int64_t ffprobe_packet_count(const std::string& path, const std::string& stream) {
    std::string out = capture(fmt::format(
        "ffprobe -v error -count_packets -select_streams {} -show_entries stream=nb_read_packets -of csv=p=0 '{}'",
        stream, path));
    out = out.substr(0, out.find('\n'));
    try {
        return out.empty() ? 0 : std::stoll(out);
    } catch (...) {
        return 0;
    }
}

std::string ffprobe_stream_field(const std::string& path, const std::string& field) {
    // MPEG-TS lists the stream once per program as well: keep the first line.
    const std::string out = capture(
        fmt::format("ffprobe -v error -select_streams v:0 -show_entries stream={} -of csv=p=0 '{}'", field, path));
    return out.substr(0, out.find('\n'));
}

namespace {
std::vector<std::string> lines_of(const std::string& out) {
    std::vector<std::string> packets;
    for (std::size_t at = 0; at < out.size();) {
        const std::size_t end = std::min(out.find('\n', at), out.size());
        if (end > at) packets.push_back(out.substr(at, end - at));
        at = end + 1;
    }
    return packets;
}
}  // namespace

std::vector<std::string> ffprobe_packets(const std::string& path) {
    return lines_of(capture(fmt::format("ffprobe -v error -select_streams v:0 -show_packets -show_data_hash md5 "
                                        "-show_entries packet=flags,data_hash -of csv=p=0 '{}'",
                                        path)));
}

std::vector<std::string> ffprobe_all_packets(const std::string& path) {
    // Packets list codec_type only through their stream: show both and keep the packet lines.
    return lines_of(capture(fmt::format("ffprobe -v error -show_packets -show_data_hash md5 "
                                        "-show_entries packet=codec_type,flags,data_hash -of csv=p=0 '{}'",
                                        path)));
}

int run(const std::string& command) {
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace framepipe::test
