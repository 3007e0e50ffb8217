#pragma once
// Writing still images (thumbnails, contact sheets, image sequences): format from the file extension, quality, an
// output folder checked up front, no silent overwriting, and one output file per write.
//
// Names: a file name that does not fit NAME_MAX is shortened (fit_file_name: its start, a hash of the whole name, the
// extension). A name this run already wrote, through any ImageOutput of the process into the same folder (two inputs
// "frame_0002.jpg" and "frame_0002.png" rendering "{label}.jpg"), gets the next free suffix before the extension:
// "frame_0002-2.jpg". So two writes never map to one file, whichever writes first.

#include <opencv2/core/mat.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace framepipe::stages {

class ImageOutput {
public:
    /// Checks the file name template (its fields, option 'file', no '/', and its extension). Throws ConfigError.
    /// Touches nothing on disk.
    ImageOutput(std::string dir, std::string name_template, int quality, bool overwrite);
    /// Releases the names this output wrote, so a later run in the same process may write them again.
    ~ImageOutput();
    ImageOutput(const ImageOutput&) = delete;
    ImageOutput& operator=(const ImageOutput&) = delete;

    /// Call from Stage::open, before the first frame is read. Creates the folder if needed and checks that it can be
    /// written. Unless overwriting, refuses a folder that already holds a file this output could write for input
    /// `input` (a name of the template, also with a -N suffix or shortened), naming it, so that a second run into the
    /// same folder stops before it starts instead of part-way. Templates with {clock} are not checked: their names
    /// carry the time of writing, so files of earlier runs are not written again. Throws ConfigError naming the folder
    /// or file and what to do.
    void prepare(std::string_view input);
    /// Only creates and checks the folder, for outputs whose names do not come from the template (motion snapshots).
    void prepare();

    /// Encodes `image` and writes it as dir/file_name (made unique and fitted to NAME_MAX, see above) through a
    /// temporary file of its own in the same folder, renamed into place, so a reader (or a crash) never sees half a
    /// file and concurrent writers never share a temporary. Unless overwriting, an existing file is never replaced:
    /// one that appeared after prepare() makes the write take the next suffix. Returns the name written. Throws Error
    /// naming the file on an I/O failure (disk full). Thread-safe.
    std::string write(const cv::Mat& image, const std::string& file_name);

    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    /// Writes whose name was taken, so they got a suffix.
    [[nodiscard]] std::uint64_t renamed() const noexcept { return renamed_.load(std::memory_order_relaxed); }

private:
    // Claims `name` in this output's folder for this process; false when it is already claimed. Registry mutex held.
    bool claim_locked(const std::string& name);
    // Renames `temporary` to `name`; false when `name` exists and overwriting was not asked for.
    bool place(const std::string& temporary, const std::string& name) const;

    std::string dir_;
    std::string name_template_;
    int quality_;
    bool overwrite_;
    std::string folder_key_;          // the folder's canonical path, set by prepare()
    std::size_t name_max_ = 255;      // of the folder's file system, set by prepare()
    // Guarded by the process-wide registry's mutex (image_output.cpp):
    std::vector<std::uint64_t> claims_;                        // what this output claimed, released by the destructor
    std::unordered_map<std::string, std::uint64_t> next_suffix_;  // requested names that collided -> next suffix
    std::atomic<std::uint64_t> renamed_{0};
    std::atomic<std::uint64_t> noted_{0};  // renames and shortenings logged so far (the first few are)
};

}  // namespace framepipe::stages
