#pragma once
// Benchmark inputs, generated once into a folder and reused: 20 s of noisy H.264 at 30 fps with B-frames (about
// 8 Mbit/s at 1080p), so decoding costs what real footage costs.

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace framepipe::perf {

/// Paths of two inputs of `size` ("1920x1080"), generated with ffmpeg if missing.
inline std::vector<std::string> video_inputs(const std::string& dir, const std::string& size) {
    std::filesystem::create_directories(dir);
    const char* patterns[] = {"testsrc2", "testsrc"};
    std::vector<std::string> inputs;
    for (int i = 0; i < 2; ++i) {
        const std::string path = fmt::format("{}/{}_{}.mp4", dir, i == 0 ? "first" : "second", size);
        if (!std::filesystem::exists(path)) {
            fmt::print(stderr, "generating {} ...\n", path);
            const std::string command = fmt::format(
                "ffmpeg -v error -y -f lavfi -i '{}=size={}:rate=30,noise=alls=12:allf=t+u' -t 20 -c:v libx264 "
                "-preset veryfast -crf 23 -g 60 -bf 3 -pix_fmt yuv420p '{}.part.mp4'",
                patterns[i], size, path);
            if (std::system(command.c_str()) != 0) throw std::runtime_error("ffmpeg could not generate " + path);
            std::filesystem::rename(path + ".part.mp4", path);
        }
        inputs.push_back(path);
    }
    return inputs;
}

}  // namespace framepipe::perf
