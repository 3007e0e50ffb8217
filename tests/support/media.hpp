#pragma once
// Real media for tests, made at test time: numbered frames that survive lossy compression (the number is drawn as a
// row of large black and white blocks), videos encoded by Debian's ffmpeg from those frames, image folders written with
// OpenCV, and ffprobe to check what framepipe writes.

#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace framepipe::test {

/// A temporary folder removed (with its contents) when the object goes.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "framepipe-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] std::string operator/(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

/// A frame whose number (0..65535) can be read back with read_number() after JPEG or H.264 compression.
cv::Mat numbered_frame(int number, cv::Size size);
/// The number drawn by numbered_frame(), or -1 when the blocks cannot be read.
int read_number(const cv::Mat& bgr);
/// An encoded picture (JPEG, PNG: an HTTP body, an MJPEG part) decoded to BGR; empty when it does not decode.
cv::Mat decode_picture(const std::string& bytes);

struct VideoSpec {
    int frames = 30;
    cv::Size size{320, 240};
    double fps = 25;
    /// ffmpeg output options, e.g. "-c:v libx264 -preset veryfast -bf 3 -pix_fmt yuv420p".
    std::string codec = "-c:v libx264 -preset veryfast -bf 3 -g 12 -pix_fmt yuv420p";
    /// Draws frame n (BGR, `size`); numbered_frame when empty.
    std::function<cv::Mat(int n, cv::Size size)> draw;
};

/// Encodes frames 0..frames-1 (numbered ones unless spec.draw says otherwise) with ffmpeg into `path` (the container follows the extension).
void write_video(const std::string& path, const VideoSpec& spec);

/// Writes numbered frames as image files `prefix<n>.<extension>` (n without leading zeros) into `dir`.
std::vector<std::string> write_images(const std::string& dir, int count, cv::Size size, const std::string& extension,
                                      const std::string& prefix = "img");

/// Frames ffprobe counts by decoding the file's first video stream (-count_frames), or -1 when it cannot read it.
std::int64_t ffprobe_frame_count(const std::string& path);
/// Packets of one stream ("a:0", "v:0") as ffprobe counts them; 0 when the file has no such stream.
std::int64_t ffprobe_packet_count(const std::string& path, const std::string& stream);
/// One field of the first video stream as ffprobe reports it (e.g. "codec_name", "width"), or "" on failure.
std::string ffprobe_stream_field(const std::string& path, const std::string& field);

/// The first video stream's packets in file order as ffprobe reads them: "K_,MD5:<hash of the bytes>" per packet
/// ("__" instead of "K_" for a packet that is not a keyframe). Empty when it cannot read the file.
std::vector<std::string> ffprobe_packets(const std::string& path);
/// Every packet of every stream in file order: "<codec type>,K_,MD5:<hash>" ("video,..." or "audio,...").
std::vector<std::string> ffprobe_all_packets(const std::string& path);

/// The numbers SyntheticSource burned into the frames of `video`, in file order (-1 for a frame without one). A live
/// source read late skips frames, so these number a frame's place on the camera's clock (n / fps), and a gap is a frame
/// the camera made that was never captured.
std::vector<std::int64_t> burned_numbers_in_video(const std::string& path);
/// The same for every .bmp image in `dir` (a write_images output), sorted; images that do not decode are left out.
std::vector<std::int64_t> burned_numbers_in_images(const std::string& dir);
/// How many .bmp images `dir` holds (cheaper than reading them: a wait's first test).
std::int64_t images_in(const std::string& dir);

/// Runs a shell command and returns its exit status.
int run(const std::string& command);

}  // namespace framepipe::test
