// libframepipe_imgcodecs: OpenCV's imgcodecs behind two C names, loaded by libframepipe on first use
// (src/media/image_codecs.cpp) so that processes which never read or write a picture file do not load imgcodecs.
#include "media/image_codecs_plugin.hpp"

#include <opencv2/imgcodecs.hpp>

extern "C" {

__attribute__((visibility("default"))) bool framepipe_encode_image(const char* extension, const cv::Mat& image,
                                                                   const std::vector<int>& parameters,
                                                                   std::vector<uchar>& out) {
    return cv::imencode(extension, image, out, parameters);
}

__attribute__((visibility("default"))) void framepipe_decode_image(const uchar* bytes, std::size_t size, int flags,
                                                                   cv::Mat& out) {
    const cv::Mat wrapped(1, static_cast<int>(size), CV_8UC1, const_cast<uchar*>(bytes));
    out.release();  // imdecode leaves `out` as it was when no decoder takes the bytes: the caller would see a picture
    cv::imdecode(wrapped, flags, &out);
}
}

static_assert(std::is_same_v<decltype(&framepipe_encode_image), FramepipeEncodeImage>);
static_assert(std::is_same_v<decltype(&framepipe_decode_image), FramepipeDecodeImage>);
