#pragma once
// Writing still images (thumbnails, contact sheets, image sequences): format from the file extension, quality, an
// output folder checked up front, and no silent overwriting.

#include <opencv2/core/mat.hpp>

#include <string>

namespace framepipe::stages {

class ImageOutput {
public:
    /// Checks the name template's extension and creates `dir` if needed, verifying it can be written.
    /// Throws ConfigError naming the folder and the problem.
    ImageOutput(std::string dir, const std::string& name_template, int quality, bool overwrite);

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
