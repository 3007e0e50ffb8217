#include "jpeg_encode.hpp"

#include <algorithm>
#include <csetjmp>
#include <cstdlib>

#include <jpeglib.h>

namespace framepipe::media {
namespace {

// libjpeg reports errors by calling error_exit, which must not return: it jumps back to compress().
struct ErrorManager {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
};

[[noreturn]] void jump_back(j_common_ptr info) { std::longjmp(reinterpret_cast<ErrorManager*>(info->err)->jump, 1); }

// Only trivially destructible locals live between setjmp and a longjmp to it: the caller owns `out` and the
// compressor's memory (jpeg_mem_dest's buffer is freed here on both paths).
bool compress(const cv::Mat& image, int quality, unsigned char*& buffer, unsigned long& size) {
    jpeg_compress_struct info{};
    ErrorManager errors{};
    info.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = jump_back;
    if (setjmp(errors.jump) != 0) {
        jpeg_destroy_compress(&info);
        return false;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, &buffer, &size);
    info.image_width = static_cast<JDIMENSION>(image.cols);
    info.image_height = static_cast<JDIMENSION>(image.rows);
    const int channels = image.channels();
    info.input_components = channels;
    info.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_EXT_BGR : JCS_EXT_BGRX;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, std::clamp(quality, 0, 100), TRUE);  // TRUE: baseline tables, as OpenCV asks
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(image.ptr<uchar>(static_cast<int>(info.next_scanline)));
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    return true;
}

}  // namespace

bool encode_jpeg(const cv::Mat& image, int quality, std::vector<uchar>& out) {
    const int channels = image.channels();
    if (image.empty() || image.dims != 2 || (channels != 1 && channels != 3 && channels != 4)) return false;
    cv::Mat eight_bit;
    if (image.depth() != CV_8U) image.convertTo(eight_bit, CV_8U);
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    const bool done = compress(eight_bit.empty() ? image : eight_bit, quality, buffer, size);
    if (done) out.assign(buffer, buffer + size);
    std::free(buffer);  // jpeg_mem_dest allocates with malloc
    return done;
}

}  // namespace framepipe::media
