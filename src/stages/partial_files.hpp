#pragma once
// Files written under a temporary name and renamed into place once complete (video files, segments, clips), so a
// reader never takes a half file for a whole one, and what a killed run left of them.

#include <filesystem>
#include <string>
#include <vector>

namespace framepipe::stages {

/// The name a file is written under until it is complete: "dir/name.ext" -> "dir/name.part.ext".
[[nodiscard]] std::filesystem::path part_of(const std::filesystem::path& path);

/// Deals with what a previous run left open in `dir`: every "<input>_*.part.<extension>". One that holds a playable
/// frame becomes "<name>-recovered.<extension>" (with -2, -3 ... if taken); one that holds none (killed before its
/// first flush) is removed. Each is logged as "<who>: recovered the <what> ..." or "... removed". Returns what was
/// recovered. Never throws: a file that cannot be renamed or removed stays as it was.
std::vector<std::filesystem::path> recover_leftovers(const std::string& dir, const std::string& input,
                                                     const std::string& extension, const std::string& who,
                                                     const std::string& what);

}  // namespace framepipe::stages
