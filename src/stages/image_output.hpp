#pragma once
// Writing still images (thumbnails, contact sheets, image sequences): format from the file extension, quality, an
// output folder checked up front, and no silent overwriting.

#include <opencv2/core/mat.hpp>

#include <string>

namespace framepipe::stages {

class ImageOutput {
public:
    /// Checks the file name template (its fields, option 'file', and its extension). Throws ConfigError. Touches
    /// nothing on disk.
    ImageOutput(std::string dir, const std::string& name_template, int quality, bool overwrite);

    /// Creates the folder if needed and checks that it can be written (call from Stage::open). Throws ConfigError
    /// naming the folder and the problem.
    void prepare() const;

    /// Encodes `image` and writes it to dir/file_name through a temporary file renamed into place, so a reader (or a
    /// crash) never sees half a file. Throws Error if the file exists and overwriting was not asked for, or on an I/O
    /// failure (disk full), naming the file. Thread-safe.
    void write(const cv::Mat& image, const std::string& file_name) const;

    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

private:
    std::string dir_;
    int quality_;
    bool overwrite_;
};

}  // namespace framepipe::stages
