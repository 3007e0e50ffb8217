#pragma once
// A frame and its lineage. Frames are pooled per source (see the engine's FramePool): the Frame object, its pixel
// buffers and its timeline are recycled, so a steady-state run allocates nothing per frame.
//
// Ownership: a stage gets exclusive access to a frame for the duration of Stage::process() and must not keep a
// reference to it, or to its cv::Mat buffers, afterwards: the buffers are reused for a later frame. A stage that needs
// pixels beyond process() (a pre-roll buffer, a "best frame so far") keeps a clone().

#include <framepipe/clock.hpp>

#include <opencv2/core/mat.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace framepipe {

namespace detail {
class FramePool;
class PixelShelf;
}  // namespace detail

/// Most stages one source's chain may have; each has a fixed slot in Frame::spans, so recording lineage never allocates.
inline constexpr std::size_t kMaxStagesPerLane = 32;

/// What a frame holds right now. Sources of compressed media deliver `encoded` frames; their decode stages turn them
/// into `native` (a decoded picture still in the decoder's buffers, see FrameAttachment) and then `bgr`.
enum class PixelFormat : std::uint8_t {
    bgr,      // image: 8-bit, 3 channels, BGR
    gray,     // image: 8-bit, 1 channel
    encoded,  // Frame::encoded holds compressed bytes (a video packet, an image file)
    native,   // an attachment holds a decoded picture in the decoder's own format
};

class Frame;

/// Data a stage hangs on a frame for later stages: a decoded picture that still lives in the decoder's buffers, the
/// motion a motion stage found (framepipe/attachments/motion.hpp). Made by Frame::attach<T>() on first use, it stays
/// with the pooled frame and is reused; reset() lets go of what it refers to and returns it to its "nothing attached"
/// state (called when the frame is recycled).
class FrameAttachment {
public:
    virtual ~FrameAttachment() = default;
    virtual void reset() noexcept = 0;
    /// Puts a copy of this attachment on `target` (Frame::copy_from: a branch that writes to a frame it shares gets a
    /// copy of its own). The default copies nothing: the copy goes without this attachment.
    virtual void copy_to(Frame& target) const { (void)target; }
};

/// When a frame entered a stage's input edge, and when that stage started and finished processing it.
/// A zero TimePoint means "not reached" (the frame was dropped earlier, or the stage is past the chain's end).
struct StageSpan {
    TimePoint queued{};
    TimePoint started{};
    TimePoint finished{};
    std::uint32_t worker = 0;  // the thread that ran the stage on this frame (a small number per thread)

    [[nodiscard]] Duration wait() const noexcept { return started - queued; }
    [[nodiscard]] Duration service() const noexcept { return finished - started; }
};

class Frame {
public:
    /// The pixels when format is bgr or gray; stages document what they accept.
    cv::Mat image;
    PixelFormat format = PixelFormat::bgr;
    /// Compressed bytes when format is encoded. Its capacity is kept when the frame is recycled.
    std::vector<std::uint8_t> encoded;
    /// Where the frame came from within its source when that means something to a person: the file name of an image
    /// in a folder. Empty otherwise.
    std::string label;
    /// Set by the source when the frame is a key frame (video) or stands alone (images): decoding can start here.
    bool key = true;
    /// Presentation and decoding timestamps in the source's own time base, for its decode stage.
    std::int64_t pts = 0;
    std::int64_t dts = 0;
    /// Index of the source (input) the frame came from, in the order the pipeline's sources were added.
    std::uint32_t source = 0;
    /// Per source, from 0, in capture order. A gap means the frames before and after do not follow each other: some
    /// were dropped in between (counted where), or the source was reopened after losing its signal.
    std::uint64_t sequence = 0;
    /// The source's own number for this frame where it has one (a camera's frame counter, the synthetic camera's
    /// clock), else -1. The engine counts gaps in it as frames the source skipped before capture.
    std::int64_t source_number = -1;
    /// Position in the media (presentation time). For live sources, time since the first frame.
    Duration media_time{};
    /// When the engine received the frame from its source.
    TimePoint capture_time{};
    /// Whether the engine times this frame through its stages: profiling is on and the frame is one it samples
    /// (PipelineOptions::profile_spacing). Set by the engine at capture; stages must not change it. A timed frame's
    /// spans hold every time; an untimed one's hold only what costs no clock reading (the first stage's queued time is
    /// its capture time, a stage's flush() is timed anyway).
    bool timed = false;
    /// spans[i] belongs to stage i of the source's chain.
    std::array<StageSpan, kMaxStagesPerLane> spans{};

    Frame() = default;
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    /// A buffer owned by the frame, of this size and type and distinct from `image`, for a stage that cannot work in
    /// place to render into before set_image(). Buffers are reused per geometry: a pooled frame takes them from, and
    /// gives them back to, a shelf its source's frames share, so a steady stream allocates nothing and a source's
    /// memory is what its frames hold at once. A stage that needs two buffers of one geometry at once asks for
    /// which = 0 and which = 1. Contents are undefined.
    cv::Mat& buffer(cv::Size size, int type, int which = 0);
    /// Makes `rendered` (a reference returned by buffer()) the image; the old image goes back on the shelf (a frame
    /// made outside a pool keeps it as a spare buffer). A frame holds on to its image when it is recycled.
    void set_image(cv::Mat& rendered) noexcept {
        std::swap(image, rendered);
        if (image_borrowed_) {  // the borrowed pixels are not this frame's to reuse
            rendered.release();
            image_borrowed_ = false;
        } else {
            shelve(rendered);
        }
    }
    /// Makes `image` this size and type, reusing a spare buffer of that geometry when there is one (sources call this
    /// before writing pixels). Contents are undefined when the geometry changed.
    cv::Mat& prepare_image(cv::Size size, int type);

    /// The frame's attachment of type T (a default-constructible FrameAttachment), made on first use and reused by
    /// every later frame through the same pool slot. Only the stage processing the frame may call this.
    template <class T>
    T& attach() {
        if (T* existing = find<T>()) return *existing;
        attachments_.push_back(std::make_unique<T>());
        return static_cast<T&>(*attachments_.back());
    }
    /// The frame's attachment of type T, or nullptr if no stage attached one since the pool made this frame. Once
    /// attached it stays (reset when the frame is recycled): a reset attachment means "nothing", by its own convention.
    template <class T>
    [[nodiscard]] T* find() const noexcept {
        for (const auto& attachment : attachments_)
            if (auto* typed = dynamic_cast<T*>(attachment.get())) return typed;
        return nullptr;
    }

    /// Makes this frame a copy of `other`: metadata, pixels (of a bgr or gray frame, into this frame's own buffers; other
    /// formats carry none in `image`), compressed bytes and every
    /// attachment that can be copied (FrameAttachment::copy_to); not the lineage (spans), which other branches may be
    /// writing. Used by the engine for copy on write; `other` may be read by other threads meanwhile.
    /// With `borrow_pixels` the image refers to other's pixels instead of copying them (image_borrowed()): they may be
    /// read, never written, until set_image() replaces the image (for a stage that renders into buffer()).
    void copy_from(const Frame& other, bool borrow_pixels = false);
    /// The image's pixels belong to another frame (copy_from with borrow_pixels, not replaced since).
    [[nodiscard]] bool image_borrowed() const noexcept { return image_borrowed_; }
    /// Copies borrowed pixels into a buffer of this frame's own; nothing when they are its own already.
    void own_image();

    /// Clears everything but the pixel buffers and the attachments' storage (kept for reuse).
    void reset_metadata() noexcept { reset_for_reuse(spans.size()); }

private:
    /// As reset_metadata(), clearing only spans[0, spans_used): the engine writes spans[i] only for stage i of the
    /// frame's chain, so a pool whose chain has fewer stages need not clear the rest (1 KB a frame otherwise).
    void reset_for_reuse(std::size_t spans_used) noexcept {
        if (image_borrowed_) {
            image.release();
            image_borrowed_ = false;
        }
        format = PixelFormat::bgr;
        encoded.clear();
        for (const auto& attachment : attachments_) attachment->reset();
        label.clear();
        key = true;
        pts = 0;
        dts = 0;
        source = 0;
        sequence = 0;
        source_number = -1;
        media_time = {};
        capture_time = {};
        timed = false;
        std::fill_n(spans.begin(), std::min(spans_used, spans.size()), StageSpan{});
    }

    friend class detail::FramePool;
    /// Gives `buffer` back to the shelf, when the frame has one; otherwise it stays where it is, a spare.
    void shelve(cv::Mat& buffer) noexcept;
    /// Gives every spare back to the shelf (the pool recycles the frame; the image stays, as the source most likely
    /// writes a picture of the same size into it next).
    void shelve_spares() noexcept;

    static constexpr std::size_t kSpareBuffers = 6;
    detail::PixelShelf* shelf_ = nullptr;  // the pool's, which outlives the frame; null outside a pool
    std::array<cv::Mat, kSpareBuffers> spares_;
    bool image_borrowed_ = false;
    std::size_t next_evicted_ = 0;
    std::vector<std::unique_ptr<FrameAttachment>> attachments_;
};

}  // namespace framepipe
