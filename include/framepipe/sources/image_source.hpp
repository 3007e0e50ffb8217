#pragma once
// ImageSource: a folder of images, a glob pattern ("shots/*.png"), or a list of files, in natural order
// ("img2" before "img10"). The source only reads the files' bytes (blocking I/O, on its own thread); its `decode` stage
// decodes them in parallel on the flow graph.
//
// Files that are not images (by extension) are skipped when the list is made, and counted; a file that cannot be read,
// or whose content is corrupt or truncated (a JPEG without its end marker, a PNG without IEND), is rejected by the
// decode stage with a warning naming it, and counted. Neither stops the run. Images larger than `max_pixels` are
// rejected before decoding (a small file may claim an enormous picture).

#include <framepipe/source.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace framepipe {

class ImageSource final : public Source {
public:
    struct Options {
        std::vector<std::string> inputs;  // folders, glob patterns or files; listed together in order
        std::string name;                 // default: the folder's or pattern's name
        double fps = 0;                   // media time given to each image (frame / fps); 0 = 1 image per second
        std::int64_t max_pixels = 100'000'000;
        bool recursive = false;           // descend into sub-folders of folder inputs
    };

    /// What a listing finds, for `framepipe probe` and the report.
    struct Listing {
        std::vector<std::string> files;    // images, in natural order
        std::vector<std::string> skipped;  // not images (by extension)
    };

    explicit ImageSource(Options options);
    ~ImageSource() override;

    /// Lists inputs without reading them. Throws ConfigError naming an input that does not exist or matches nothing.
    static Listing list(const std::vector<std::string>& inputs, bool recursive = false);
    /// True if the name has an image extension framepipe decodes.
    static bool is_image_name(const std::string& path);
    /// Natural ("human") ordering of file names: digit runs compare as numbers.
    static bool natural_less(const std::string& a, const std::string& b);

    SourceInfo open(std::stop_token stop) override;
    ReadResult read(Frame& frame, std::stop_token stop) override;
    std::vector<std::unique_ptr<Stage>> decode_stages() override;

private:
    Options options_;
    Listing listing_;
    std::size_t next_ = 0;
};

}  // namespace framepipe
