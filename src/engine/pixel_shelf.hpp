#pragma once
// PixelShelf: the pixel buffers a source's pooled frames are not using, shared among them by geometry. A frame keeps
// only its image and the buffers a stage is rendering into; the rest go back on the shelf (Frame::set_image and
// prepare_image give back the image they replace; the pool takes a recycled frame's spare buffers), so a source's
// memory is what its frames hold at once, not its frame count times every size a frame passes through.
//
// Thread-safety: take() and give() may be called from any thread (a mutex; called a few times per frame per stage
// that renders, against the megabytes of pixels each buffer holds).

#include <opencv2/core/mat.hpp>

#include <mutex>
#include <vector>

namespace framepipe::detail {

class PixelShelf {
public:
    /// A buffer of this geometry from the shelf (the most recently given back), or an empty Mat when it has none.
    cv::Mat take(cv::Size size, int type) {
        const std::lock_guard lock(mutex_);
        for (auto it = buffers_.rbegin(); it != buffers_.rend(); ++it)
            if (it->size() == size && it->type() == type) {
                cv::Mat found = std::move(*it);
                buffers_.erase(std::next(it).base());
                return found;
            }
        return {};
    }

    /// Puts `buffer` on the shelf (nothing for an empty one). Beyond kMost buffers the oldest is freed: a source whose
    /// pictures changed size does not keep the old size's buffers for ever.
    void give(cv::Mat&& buffer) {
        if (buffer.empty()) return;
        const std::lock_guard lock(mutex_);
        if (buffers_.size() == kMost) buffers_.erase(buffers_.begin());
        buffers_.push_back(std::move(buffer));
    }

    [[nodiscard]] std::size_t size() const {
        const std::lock_guard lock(mutex_);
        return buffers_.size();
    }

private:
    static constexpr std::size_t kMost = 256;
    mutable std::mutex mutex_;
    std::vector<cv::Mat> buffers_;
};

}  // namespace framepipe::detail
