#include "image_codecs.hpp"

#include "image_codecs_plugin.hpp"
#include "jpeg_encode.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>  // the IMWRITE_* and IMREAD_* constants only: nothing here calls into imgcodecs

#include <dlfcn.h>

#include <cctype>
#include <climits>
#include <filesystem>

#ifndef FRAMEPIPE_IMGCODECS_PLUGIN
#error "FRAMEPIPE_IMGCODECS_PLUGIN (the plugin's file name) comes from CMakeLists.txt"
#endif

namespace framepipe::media {
namespace {

struct Plugin {
    FramepipeEncodeImage encode = nullptr;
    FramepipeDecodeImage decode = nullptr;
};

// The plugin beside the libframepipe this code is in (build tree or install prefix alike), else wherever the loader
// finds it. Never unloaded.
Plugin load_plugin() {
    std::string path = FRAMEPIPE_IMGCODECS_PLUGIN;
    Dl_info self{};
    if (dladdr(reinterpret_cast<void*>(&load_plugin), &self) != 0 && self.dli_fname != nullptr)
        path = (std::filesystem::path(self.dli_fname).parent_path() / FRAMEPIPE_IMGCODECS_PLUGIN).string();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const std::string beside = dlerror();  // the reason that matters: the fallback's would hide it
        handle = dlopen(FRAMEPIPE_IMGCODECS_PLUGIN, RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const bool exists = std::filesystem::exists(path);
            throw Error(fmt::format("cannot load framepipe's image codecs plugin '{}': {}; {}", path, beside,
                                    exists ? "install OpenCV's imgcodecs library (Debian: libopencv-imgcodecs406)"
                                           : "it belongs beside libframepipe: reinstall framepipe"));
        }
    }
    Plugin plugin;
    plugin.encode = reinterpret_cast<FramepipeEncodeImage>(dlsym(handle, kEncodeImageSymbol));
    plugin.decode = reinterpret_cast<FramepipeDecodeImage>(dlsym(handle, kDecodeImageSymbol));
    if (plugin.encode == nullptr || plugin.decode == nullptr) {
        dlclose(handle);
        throw Error(fmt::format("framepipe's image codecs plugin '{}' lacks {} or {}: reinstall framepipe", path,
                                kEncodeImageSymbol, kDecodeImageSymbol));
    }
    return plugin;
}

// Loaded once; a failed load throws and is tried again by the next call (a function-local static's rule).
const Plugin& plugin() {
    static const Plugin loaded = load_plugin();
    return loaded;
}

}  // namespace

void load_image_codecs() { plugin(); }

bool encodes_without_plugin(const std::string& name) {  // as cv::imencode matches them: in any case
    std::string extension = name;
    for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return extension == ".jpg" || extension == ".jpeg" || extension == ".jpe";
}

bool encode_image(const std::string& extension, const cv::Mat& image, const std::vector<int>& parameters,
                  std::vector<uchar>& out) {
    if (encodes_without_plugin(extension)) {
        int quality = 95;  // cv::imencode's default
        for (std::size_t i = 0; i + 1 < parameters.size(); i += 2)
            if (parameters[i] == cv::IMWRITE_JPEG_QUALITY) quality = parameters[i + 1];
        return encode_jpeg(image, quality, out);
    }
    return plugin().encode(extension.c_str(), image, parameters, out);
}

void decode_image(std::span<const uchar> bytes, int flags, cv::Mat& out) {
    if (bytes.empty() || bytes.size() > static_cast<std::size_t>(INT_MAX)) {  // cv::Mat counts columns in int
        out.release();
        return;
    }
    plugin().decode(bytes.data(), bytes.size(), flags, out);
}

}  // namespace framepipe::media
