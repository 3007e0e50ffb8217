#include "frame_pool.hpp"

#include "lineage_log.hpp"

#include <opencv2/core.hpp>

#include <cstdio>

namespace framepipe::detail {
namespace {
constexpr std::uint64_t pack(std::uint64_t tag, std::uint32_t slot) noexcept { return (tag << 32) | slot; }
constexpr std::uint32_t slot_of(std::uint64_t head) noexcept { return static_cast<std::uint32_t>(head); }
constexpr std::uint64_t tag_of(std::uint64_t head) noexcept { return head >> 32; }
}  // namespace

FramePool::FramePool(std::uint32_t capacity, cv::Size preallocate, int type)
    : capacity_(capacity),
      slots_(std::make_unique<PoolSlot[]>(capacity)),
      next_(std::make_unique<std::atomic<std::uint32_t>[]>(capacity)),
      head_(pack(0, capacity == 0 ? kNone : 0)) {
    for (std::uint32_t i = 0; i < capacity; ++i) {
        slots_[i].pool = this;
        slots_[i].index = i;
        if (preallocate.empty()) slots_[i].frame.shelf_ = &shelf_;  // preallocated pictures stay with their frame
        next_[i].store(i + 1 < capacity ? i + 1 : kNone, std::memory_order_relaxed);
        if (!preallocate.empty()) {
            slots_[i].frame.image.create(preallocate, type);
            slots_[i].frame.image.setTo(cv::Scalar::all(0));  // touch the pages now, not on the first frame
        }
    }
}

FramePool::~FramePool() {
    if (in_use_.load() != 0)
        std::fprintf(stderr, "framepipe: internal error: frame pool destroyed with %u frames still in use\n",
                     in_use_.load());
}

bool FramePool::pop_free(std::uint32_t& slot) noexcept {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
        const std::uint32_t top = slot_of(head);
        if (top == kNone) return false;
        const std::uint32_t below = next_[top].load(std::memory_order_relaxed);
        if (head_.compare_exchange_weak(head, pack(tag_of(head) + 1, below), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
            slot = top;
            return true;
        }
    }
}

void FramePool::push_free(std::uint32_t slot) noexcept {
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    for (;;) {
        next_[slot].store(slot_of(head), std::memory_order_relaxed);
        if (head_.compare_exchange_weak(head, pack(tag_of(head) + 1, slot), std::memory_order_acq_rel,
                                        std::memory_order_relaxed))
            return;
    }
}

FrameRef FramePool::try_acquire() noexcept {
    std::uint32_t slot = 0;
    if (!pop_free(slot)) return {};
    const std::uint32_t now_in_use = in_use_.fetch_add(1) + 1;
    std::uint32_t peak = peak_in_use_.load(std::memory_order_relaxed);
    while (now_in_use > peak && !peak_in_use_.compare_exchange_weak(peak, now_in_use, std::memory_order_relaxed)) {
    }
    PoolSlot& taken = slots_[slot];
    taken.frame.reset_for_reuse(spans_used_);
    taken.lineage = FrameLineage{};
    taken.refs.store(1, std::memory_order_relaxed);
    return FrameRef(&taken);
}

FrameRef FramePool::acquire(std::stop_token stop) {
    FrameRef frame = try_acquire();
    if (frame) return frame;
    std::stop_callback wake_on_stop(stop, [this] { freed_.notify_all(); });
    freed_.wait_until([&] {
        frame = try_acquire();
        return static_cast<bool>(frame) || stop.stop_requested();
    });
    return frame;
}

void FramePool::recycle(PoolSlot& slot) noexcept {
    if (lineage_ != nullptr && slot.lineage.kind != FrameLineage::Kind::unused)
        lineage_->add(source_, slot.frame, &slot.lineage);
    slot.frame.shelve_spares();
    push_free(slot.index);
    in_use_.fetch_sub(1);
    freed_.notify_all();
}

}  // namespace framepipe::detail
