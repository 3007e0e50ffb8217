#pragma once
// A small number per thread, handed out in order of first use: shards per-thread statistics (no cache line shared by
// two threads on the frame path) and names the worker a frame ran on in traces.

#include <atomic>
#include <cstdint>

namespace framepipe::detail {

inline std::uint32_t thread_slot() noexcept {
    static std::atomic<std::uint32_t> next{0};
    thread_local const std::uint32_t slot = next.fetch_add(1, std::memory_order_relaxed);
    return slot;
}

}  // namespace framepipe::detail
