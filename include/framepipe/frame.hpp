#pragma once
// A frame and its lineage. Frames are pooled per source (see the engine's FramePool): the Frame object, its pixel
// buffers and its timeline are recycled, so a steady-state run allocates nothing per frame.
//
// Ownership: a stage gets exclusive access to a frame for the duration of Stage::process() and must not keep a
// reference to it, or to its cv::Mat buffers, afterwards: the buffers are reused for a later frame. A stage that needs
// pixels beyond process() (a pre-roll buffer, a "best frame so far") keeps a clone().

#include <framepipe/clock.hpp>

#include <opencv2/core/mat.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace framepipe {

namespace detail {
class FramePool;
class FrameRef;
}  // namespace detail

/// Most stages one source's chain may have; each has a fixed slot in Frame::spans, so recording lineage never allocates.
inline constexpr std::size_t kMaxStagesPerLane = 16;

/// When a frame entered a stage's input edge, and when that stage started and finished processing it.
/// A zero TimePoint means "not reached" (the frame was dropped earlier, or the stage is past the chain's end).
struct StageSpan {
    TimePoint queued{};
    TimePoint started{};
    TimePoint finished{};

    [[nodiscard]] Duration wait() const noexcept { return started - queued; }
    [[nodiscard]] Duration service() const noexcept { return finished - started; }
};

class Frame {
public:
    /// The pixels. Usually 8-bit BGR; stages document what they accept.
    cv::Mat image;
    /// Index of the source (input) the frame came from, in the order the pipeline's sources were added.
    std::uint32_t source = 0;
    /// Per source, from 0, in capture order. A gap means the source itself skipped frames (counted as drops).
    std::uint64_t sequence = 0;
    /// Position in the media (presentation time). For live sources, time since the first frame.
    Duration media_time{};
    /// When the engine received the frame from its source.
    TimePoint capture_time{};
    /// spans[i] belongs to stage i of the source's chain.
    std::array<StageSpan, kMaxStagesPerLane> spans{};

    Frame() = default;
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    /// A buffer owned by the frame, of this size and type and distinct from `image`, for a stage that cannot work in
    /// place to render into before set_image(). Buffers are kept per geometry and reused by the next frame that comes
    /// through the same pool, so a steady stream allocates nothing. Contents are undefined.
    cv::Mat& buffer(cv::Size size, int type);
    /// Makes `rendered` (a reference returned by buffer()) the image; the old image becomes a spare buffer.
    void set_image(cv::Mat& rendered) noexcept { std::swap(image, rendered); }
    /// Makes `image` this size and type, reusing a spare buffer of that geometry when there is one (sources call this
    /// before writing pixels). Contents are undefined when the geometry changed.
    cv::Mat& prepare_image(cv::Size size, int type);

    /// Clears everything but the pixel buffers (kept for reuse).
    void reset_metadata() noexcept {
        source = 0;
        sequence = 0;
        media_time = {};
        capture_time = {};
        spans.fill(StageSpan{});
    }

private:
    static constexpr std::size_t kSpareBuffers = 4;
    std::array<cv::Mat, kSpareBuffers> spares_;
    std::size_t next_evicted_ = 0;

    friend class detail::FramePool;
    friend class detail::FrameRef;
    std::atomic<std::uint32_t> refs_{0};
    detail::FramePool* pool_ = nullptr;
    std::uint32_t slot_ = 0;
};

}  // namespace framepipe
