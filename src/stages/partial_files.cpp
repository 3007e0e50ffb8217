#include "partial_files.hpp"

#include "../media/video_encoder.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace framepipe::stages {
namespace fs = std::filesystem;

fs::path part_of(const fs::path& path) {
    return path.parent_path() / (path.stem().string() + ".part" + path.extension().string());
}

std::vector<fs::path> recover_leftovers(const std::string& dir, const std::string& input, const std::string& extension,
                                        const std::string& who, const std::string& what) {
    const std::string marker = ".part." + extension;
    std::vector<fs::path> leftovers;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string file = entry.path().filename().string();
        if (file.rfind(input + "_", 0) == 0 && file.size() > marker.size() &&
            file.compare(file.size() - marker.size(), marker.size(), marker) == 0)
            leftovers.push_back(entry.path());
    }
    std::vector<fs::path> recovered;
    for (const fs::path& leftover : leftovers) {
        if (!media::holds_playable_frame(leftover.string())) {
            fs::remove(leftover, ec);
            spdlog::warn("{}: removed {}, left open by a previous run: it holds no playable frame", who,
                         leftover.string());
            continue;
        }
        const std::string file = leftover.filename().string();
        const std::string base = (fs::path(dir) / (file.substr(0, file.size() - marker.size()) + "-recovered")).string();
        fs::path target = base + "." + extension;
        for (int n = 2; fs::exists(target, ec) || fs::exists(part_of(target), ec); ++n)
            target = fmt::format("{}-{}.{}", base, n, extension);
        fs::rename(leftover, target, ec);
        if (ec) {
            spdlog::warn("{}: cannot rename {}, left open by a previous run: {}", who, leftover.string(), ec.message());
            continue;
        }
        spdlog::warn("{}: recovered the {} a previous run left open: {}", who, what, target.string());
        recovered.push_back(target);
    }
    return recovered;
}

}  // namespace framepipe::stages
