#include <framepipe/frame.hpp>

namespace framepipe {

cv::Mat& Frame::buffer(cv::Size size, int type) {
    for (cv::Mat& spare : spares_)
        if (spare.size() == size && spare.type() == type && spare.data != image.data) return spare;
    for (cv::Mat& spare : spares_)
        if (spare.empty()) {
            spare.create(size, type);
            return spare;
        }
    // All spares hold other geometries: recycle them in turn (a chain using more than four sizes per frame allocates).
    cv::Mat& spare = spares_[next_evicted_];
    next_evicted_ = (next_evicted_ + 1) % spares_.size();
    spare.release();
    spare.create(size, type);
    return spare;
}

cv::Mat& Frame::prepare_image(cv::Size size, int type) {
    if (image.size() != size || image.type() != type) {
        if (image.empty()) {
            for (cv::Mat& spare : spares_)
                if (spare.size() == size && spare.type() == type) {
                    std::swap(image, spare);
                    return image;
                }
            image.create(size, type);
        } else {
            set_image(buffer(size, type));
        }
    }
    return image;
}

}  // namespace framepipe
