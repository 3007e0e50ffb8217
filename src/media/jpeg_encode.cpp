#include "jpeg_encode.hpp"

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <new>

#include <jpeglib.h>
// jerror.h after jpeglib.h, which it needs
#include <jerror.h>

#ifndef JCS_EXTENSIONS
#error "framepipe encodes BGR with libjpeg-turbo's JCS_EXT_BGR: install libjpeg-turbo's development files (libjpeg-dev)"
#endif

namespace framepipe::media {
namespace {

// libjpeg reports errors by calling error_exit, which must not return: it jumps back to compress().
struct ErrorManager {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
};

[[noreturn]] void jump_back(j_common_ptr info) { std::longjmp(reinterpret_cast<ErrorManager*>(info->err)->jump, 1); }

// libjpeg writes straight into the caller's vector, grown by doubling (its capacity is kept from call to call, so a
// stage that encodes into the same vector stops allocating). No memory of libjpeg's own outlives a call.
struct VectorDestination {
    jpeg_destination_mgr pub;
    std::vector<uchar>* out;
};

VectorDestination& destination_of(j_compress_ptr info) { return *reinterpret_cast<VectorDestination*>(info->dest); }

void start_output(j_compress_ptr info) {
    VectorDestination& d = destination_of(info);
    d.out->resize(std::max<std::size_t>(d.out->capacity(), 4096));
    d.pub.next_output_byte = d.out->data();
    d.pub.free_in_buffer = d.out->size();
}

boolean grow_output(j_compress_ptr info) {
    VectorDestination& d = destination_of(info);
    const std::size_t used = d.out->size();
    bool grown = true;
    try {
        d.out->resize(used * 2);
    } catch (const std::bad_alloc&) {
        grown = false;
    }
    if (!grown) {  // outside the catch block: the jump leaves no exception half handled
        info->err->msg_code = JERR_OUT_OF_MEMORY;
        info->err->error_exit(reinterpret_cast<j_common_ptr>(info));
    }
    d.pub.next_output_byte = d.out->data() + used;
    d.pub.free_in_buffer = d.out->size() - used;
    return TRUE;
}

void finish_output(j_compress_ptr info) {
    VectorDestination& d = destination_of(info);
    d.out->resize(d.out->size() - d.pub.free_in_buffer);
}

// Only trivially destructible locals live between setjmp and a longjmp to it; `out` is the caller's.
bool compress(const cv::Mat& image, int quality, std::vector<uchar>& out) {
    jpeg_compress_struct info{};
    ErrorManager errors{};
    VectorDestination destination{};
    destination.pub.init_destination = start_output;
    destination.pub.empty_output_buffer = grow_output;
    destination.pub.term_destination = finish_output;
    destination.out = &out;
    info.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = jump_back;
    if (setjmp(errors.jump) != 0) {
        jpeg_destroy_compress(&info);
        return false;
    }
    jpeg_create_compress(&info);
    info.dest = &destination.pub;
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
    if (image.depth() == CV_8U) return compress(image, quality, out);
    cv::Mat eight_bit;
    image.convertTo(eight_bit, CV_8U);
    return compress(eight_bit, quality, out);
}

}  // namespace framepipe::media
