#pragma once
// FramePool: a fixed set of Frame objects per source, handed out as reference-counted FrameRefs and recycled when the
// last reference goes. The pool's capacity is the hard bound on how many of a source's frames are alive at once; the
// engine sizes it from the chain's edge capacities and stage concurrency, so a slow sink can never make memory grow.
//
// Thread-safety: try_acquire(), acquire() and the release of a FrameRef may run concurrently from any threads; the free
// list is a lock-free LIFO stack (recently used, cache-warm buffers are reused first). Allocation: the Frame objects
// are created in the constructor; pixel buffers are allocated up front when a size is given, otherwise by the first
// stage that writes them, and then reused.
// The pool must outlive every FrameRef it handed out (destroying it earlier is a programming error, reported on stderr).
// Lineage: with record_lineage(), each captured frame (and each branch's copy of one) is handed to a LineageLog when
// its last reference goes, with its spans and fates: the one moment all of its branches are done with it.

#include "event_count.hpp"
#include "frame_fate.hpp"
#include "pixel_shelf.hpp"

#include <framepipe/frame.hpp>

#include <opencv2/core/mat.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stop_token>

namespace framepipe::detail {

class FramePool;
class LineageLog;

/// A pooled frame with its reference count: the pool's bookkeeping stays out of Frame.
struct PoolSlot {
    Frame frame;
    FrameLineage lineage;
    std::atomic<std::uint32_t> refs{0};
    FramePool* pool = nullptr;
    std::uint32_t index = 0;
};

/// An owning, reference-counted handle to a pooled Frame. Copying shares the frame; the last handle to go returns it
/// to its pool. Not thread-safe as an object (like shared_ptr): two threads may hold copies, not share one handle.
class FrameRef {
public:
    FrameRef() noexcept = default;
    FrameRef(const FrameRef& other) noexcept : slot_(other.slot_) {
        if (slot_ != nullptr) slot_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    FrameRef(FrameRef&& other) noexcept : slot_(other.slot_) { other.slot_ = nullptr; }
    FrameRef& operator=(const FrameRef& other) noexcept {
        FrameRef copy(other);
        swap(copy);
        return *this;
    }
    FrameRef& operator=(FrameRef&& other) noexcept {
        FrameRef moved(std::move(other));
        swap(moved);
        return *this;
    }
    ~FrameRef() { reset(); }

    void reset() noexcept;
    void swap(FrameRef& other) noexcept { std::swap(slot_, other.slot_); }

    [[nodiscard]] Frame* get() const noexcept { return slot_ != nullptr ? &slot_->frame : nullptr; }
    /// The frame's lineage notes (see FrameLineage for who may write what).
    [[nodiscard]] FrameLineage& lineage() const noexcept { return slot_->lineage; }
    /// Notes the frame's fate at stage `position`.
    void note(std::size_t position, FrameFate fate) const noexcept { slot_->lineage.fates[position] = fate; }
    Frame* operator->() const noexcept { return &slot_->frame; }
    Frame& operator*() const noexcept { return slot_->frame; }
    explicit operator bool() const noexcept { return slot_ != nullptr; }
    /// No other handle shares the frame (so no other thread can be reading it).
    [[nodiscard]] bool unique() const noexcept {
        return slot_ != nullptr && slot_->refs.load(std::memory_order_acquire) == 1;
    }

private:
    friend class FramePool;
    explicit FrameRef(PoolSlot* adopt) noexcept : slot_(adopt) {}
    PoolSlot* slot_ = nullptr;
};

class FramePool {
public:
    /// `capacity` frames; with a non-empty `preallocate` size every frame's image is allocated (and its pages touched)
    /// now, so the first frames of a run cost no page faults.
    explicit FramePool(std::uint32_t capacity, cv::Size preallocate = {}, int type = 16 /* CV_8UC3 */);
    FramePool(const FramePool&) = delete;
    FramePool& operator=(const FramePool&) = delete;
    ~FramePool();

    /// A free frame with cleared metadata, or an empty FrameRef when all are in use. Never blocks, never allocates.
    [[nodiscard]] FrameRef try_acquire() noexcept;
    /// Waits until a frame is free. Returns an empty FrameRef only if `stop` is requested first.
    [[nodiscard]] FrameRef acquire(std::stop_token stop);

    [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::uint32_t in_use() const noexcept { return in_use_.load(); }
    /// The most frames that were in use at once since construction.
    [[nodiscard]] std::uint32_t peak_in_use() const noexcept { return peak_in_use_.load(); }
    /// Pixel buffers on the shelf now: held by no frame (Frame::buffer).
    [[nodiscard]] std::size_t shelved_buffers() const { return shelf_.size(); }

    /// Frames of this pool record spans for stage positions [0, spans_used) only (their chain's stages): try_acquire()
    /// clears just those. Call while no frame of the pool is in use.
    void use_spans(std::size_t spans_used) noexcept { spans_used_ = spans_used; }

    /// From now on, hands each captured frame (FrameLineage::kind not unused) to `log` as source `source` when it is
    /// recycled; nullptr stops that. Call while no frame of the pool is in use, or at least none is being recycled.
    void record_lineage(LineageLog* log, std::uint32_t source) noexcept {
        lineage_ = log;
        source_ = source;
    }

private:
    friend class FrameRef;
    void recycle(PoolSlot& slot) noexcept;
    bool pop_free(std::uint32_t& slot) noexcept;
    void push_free(std::uint32_t slot) noexcept;

    static constexpr std::uint32_t kNone = 0xffffffffu;
    const std::uint32_t capacity_;
    PixelShelf shelf_;  // the buffers the frames are not using; declared first, so it outlives them
    std::unique_ptr<PoolSlot[]> slots_;
    std::unique_ptr<std::atomic<std::uint32_t>[]> next_;  // free-list links, indexed by slot
    std::atomic<std::uint64_t> head_;                       // (ABA tag << 32) | slot of the top free frame
    std::atomic<std::uint32_t> in_use_{0};
    std::atomic<std::uint32_t> peak_in_use_{0};
    EventCount freed_;
    LineageLog* lineage_ = nullptr;
    std::uint32_t source_ = 0;
    std::size_t spans_used_ = kMaxStagesPerLane;
};

/// An edge dropped the frame before stage `position` took it (BoundedQueue's hook).
inline void note_edge_drop(const FrameRef& frame, FrameFate fate, std::size_t position) noexcept {
    if (frame) frame.note(position, fate);
}

inline void FrameRef::reset() noexcept {
    if (slot_ == nullptr) return;
    PoolSlot* slot = slot_;
    slot_ = nullptr;
    if (slot->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) slot->pool->recycle(*slot);
}

}  // namespace framepipe::detail
