#include <framepipe/frame.hpp>

#include "pixel_shelf.hpp"

#include <algorithm>
#include <stdexcept>

namespace framepipe {
namespace {

// Pixels with at least kSlack bytes allocated past the last one, as a view of the first rows of a taller buffer that
// ends (dataend) where its pixels end: vectorised writers (libswscale's packed output) may write past the last pixel,
// and OpenCV's filters must not take the rows below for the picture's surroundings.
constexpr std::size_t kSlack = 256;

cv::Mat allocate(cv::Size size, int type) {
    if (size.width <= 0 || size.height <= 0) return cv::Mat(size, type);
    const std::size_t row = static_cast<std::size_t>(size.width) * CV_ELEM_SIZE(type);
    const int extra = static_cast<int>((kSlack + row - 1) / row);
    cv::Mat pixels = cv::Mat(size.height + extra, size.width, type).rowRange(0, size.height);
    pixels.dataend = pixels.ptr(size.height - 1) + row;
    return pixels;
}

}  // namespace

void Frame::shelve(cv::Mat& buffer) noexcept {
    if (shelf_ == nullptr || buffer.empty()) return;
    try {
        shelf_->give(std::move(buffer));
    } catch (...) {  // out of memory growing the shelf: the buffer is freed instead
    }
    buffer.release();
}

void Frame::shelve_spares() noexcept {
    for (cv::Mat& spare : spares_) shelve(spare);
}

cv::Mat& Frame::buffer(cv::Size size, int type, int which) {
    const auto matches = [&](const cv::Mat& m) { return m.size() == size && m.type() == type && m.data != image.data; };
    int seen = 0;
    for (cv::Mat& spare : spares_)
        if (matches(spare) && seen++ == which) return spare;
    for (cv::Mat& spare : spares_)
        if (spare.empty()) {
            if (shelf_ != nullptr) spare = shelf_->take(size, type);
            if (spare.empty()) spare = allocate(size, type);
            return spare;
        }
    // Every spare holds something: recycle one of another geometry, in turn (a chain that uses more geometries per
    // frame than there are spares allocates).
    for (std::size_t tries = 0; tries < spares_.size(); ++tries) {
        cv::Mat& spare = spares_[next_evicted_];
        next_evicted_ = (next_evicted_ + 1) % spares_.size();
        if (matches(spare)) continue;  // the caller may be holding it
        shelve(spare);
        spare = allocate(size, type);
        return spare;
    }
    throw std::logic_error("Frame::buffer: more buffers of one geometry asked for than a frame keeps");
}

void Frame::copy_from(const Frame& other, bool borrow_pixels) {
    reset_metadata();
    format = other.format;
    const bool picture = format == PixelFormat::bgr || format == PixelFormat::gray;
    if (!picture) {
        // A packet or a decoder's picture: `image` holds no pixels of this frame's (only a buffer left from earlier
        // use of the pooled frame), and copying it would cost a full picture per packet.
    } else if (other.image.empty()) {
        image.release();
    } else if (borrow_pixels) {
        if (!image.empty()) {  // this frame's own buffer goes on the shelf, or stays as a spare
            shelve(image);
            const auto empty = std::find_if(spares_.begin(), spares_.end(), [](const cv::Mat& m) { return m.empty(); });
            if (!image.empty() && empty != spares_.end()) std::swap(*empty, image);
        }
        image = other.image;  // a header on the same pixels
        image_borrowed_ = true;
    } else {
        other.image.copyTo(prepare_image(other.image.size(), other.image.type()));
    }
    encoded = other.encoded;
    label = other.label;
    key = other.key;
    pts = other.pts;
    dts = other.dts;
    source = other.source;
    sequence = other.sequence;
    source_number = other.source_number;
    media_time = other.media_time;
    capture_time = other.capture_time;
    timed = other.timed;
    for (const auto& attachment : other.attachments_) attachment->copy_to(*this);
}

void Frame::own_image() {
    if (!image_borrowed_) return;
    cv::Mat& own = buffer(image.size(), image.type());
    image.copyTo(own);
    set_image(own);
}

cv::Mat& Frame::prepare_image(cv::Size size, int type) {
    if (image_borrowed_) {
        image.release();
        image_borrowed_ = false;
    }
    if (image.size() != size || image.type() != type) {
        if (image.empty()) {
            for (cv::Mat& spare : spares_)
                if (spare.size() == size && spare.type() == type) {
                    std::swap(image, spare);
                    return image;
                }
            if (shelf_ != nullptr) image = shelf_->take(size, type);
            if (image.empty()) image = allocate(size, type);
        } else {
            set_image(buffer(size, type));
        }
    }
    return image;
}

}  // namespace framepipe
