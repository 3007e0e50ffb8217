#pragma once
// ImageSource: a folder of images, a glob pattern ("shots/*.png"), or a list of files, in natural order
// ("img2" before "img10"). The source only reads the files' bytes (blocking I/O, on its own thread); its `decode` stage
// decodes them in parallel on the flow graph.
//
// Accounting: files that are not images (by extension) are skipped when the list is made and named in a warning; they
// are never frames. Every entry with an image extension is captured as one frame, in listing order. One that cannot be
// used is rejected by the decode stage with a warning naming it and the reason, and counted as rejected, so captured =
// delivered + dropped holds; the run goes on. Reasons found when listing: a dangling symbolic link, a symbolic link
// loop, not a regular file. Found when reading: the file vanished or was replaced by something else, it is empty, it is
// larger than `max_file_mb` (refused before reading), it shrank or grew while it was read. Found when decoding: cut off
// (a JPEG without its end marker, a PNG without IEND), a format whose header framepipe does not read (whatever its
// name: OpenCV would pick a decoder by content, max_pixels could not be checked) or more pixels than `max_pixels` by
// its header (both refused before decoding), or not decodable. A folder that cannot be listed at all is a ConfigError;
// a sub-folder that cannot be listed (recursive) is named in a warning and left out.
//
// Names: frame labels and the source's name are displayable_name()s of the file and folder names: bytes that are not
// UTF-8 and control characters are written as \xHH (see src/report/text_escape.hpp).

#include <framepipe/source.hpp>

#include <cstdint>
#include <memory>
#include <optional>
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
        std::int64_t max_file_mb = 512;   // larger files are rejected unread (1 MB = 2^20 bytes)
        bool recursive = false;           // descend into sub-folders of folder inputs (not through symbolic links)
    };

    /// One entry with an image extension.
    struct Entry {
        std::string path;
        std::string problem;  // why it cannot be read, when listing found out already; empty otherwise
    };

    /// What a listing finds, for `framepipe probe` and the report.
    struct Listing {
        std::vector<Entry> images;         // every entry with an image extension, in natural order
        std::vector<std::string> skipped;  // not images (by extension)
    };

    /// Width and height as an image file's header states them.
    struct Dimensions {
        std::int64_t width = 0;
        std::int64_t height = 0;
    };

    explicit ImageSource(Options options);
    ~ImageSource() override;

    /// Lists inputs without reading them. Throws ConfigError naming an input that does not exist, matches nothing, or
    /// a folder that cannot be listed.
    static Listing list(const std::vector<std::string>& inputs, bool recursive = false);
    /// True if the name has an image extension framepipe decodes.
    static bool is_image_name(const std::string& path);
    /// The dimensions in the file's header, without decoding it: PNG, JPEG, BMP, WebP, TIFF, PNM, Sun raster, Radiance
    /// HDR and OpenEXR (the formats framepipe decodes, told by content). Reads a few small pieces at the offsets the
    /// format gives, never the whole file, however large. nullopt for other formats or a header it cannot follow.
    /// Throws Error naming the file when it cannot be opened or is not a regular file.
    static std::optional<Dimensions> header_dimensions(const std::string& path);

    SourceInfo open(std::stop_token stop) override;
    ReadResult read(Frame& frame, std::stop_token stop) override;
    std::vector<std::unique_ptr<Stage>> decode_stages() override;
    [[nodiscard]] std::size_t decode_stage_count() const override { return 1; }  // decode

private:
    Options options_;
    Listing listing_;
    std::size_t next_ = 0;
};

}  // namespace framepipe
