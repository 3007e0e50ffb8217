#pragma once
// Files written under a temporary name and renamed into place once complete (video files, segments, clips), so a
// reader never takes a half file for a whole one, and what a killed run left of them.

#include <filesystem>
#include <string>
#include <vector>

namespace framepipe::stages {

/// The name a file is written under until it is complete: "dir/name.ext" -> "dir/name.part.ext".
[[nodiscard]] std::filesystem::path part_of(const std::filesystem::path& path);

/// A .part file this process writes, locked (flock) for as long as the object holds it, so that two processes writing
/// the same output (an input run twice at once: a worker taken for dead while it was still at work) never write into
/// one file: the second gets "name.part-2.ext" (or -3, ...), and whichever renames last leaves a whole file under the
/// final name. A .part file nobody holds (a killed run's) is taken over and emptied. The lock is flock(2): it holds
/// between processes on one machine (and on local file systems); on network file systems that do not pass flock on,
/// two machines writing the same output may still meet in one file. Move-only.
class PartFile {
public:
    PartFile() = default;
    /// Creates (or takes over) the .part file of `final_path`, its folder first. Throws ConfigError naming `who` and
    /// the file when it cannot.
    static PartFile claim(const std::filesystem::path& final_path, const std::string& who);
    PartFile(PartFile&& other) noexcept;
    PartFile& operator=(PartFile&& other) noexcept;
    ~PartFile();
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    /// Drops the lock (after the file was renamed or removed).
    void release() noexcept;

private:
    int fd_ = -1;
    std::string path_;
};

/// Deals with what a previous run left open in `dir`: every "<input>_*.part.<extension>". One that holds a playable
/// frame becomes "<name>-recovered.<extension>" (with -2, -3 ... if taken); one that holds none (killed before its
/// first flush) is removed. Each is logged as "<who>: recovered the <what> ..." or "... removed". Returns what was
/// recovered. Never throws: a file that cannot be renamed or removed stays as it was.
std::vector<std::filesystem::path> recover_leftovers(const std::string& dir, const std::string& input,
                                                     const std::string& extension, const std::string& who,
                                                     const std::string& what);

}  // namespace framepipe::stages
