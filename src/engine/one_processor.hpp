#pragma once
// Whether this process may run on one processor only: its main thread's affinity mask (what taskset and a container's
// cpuset set), read once. Another thread then cannot run while this one does, so spinning for it, or queueing work
// behind it, only delays it. A CPU quota (docker --cpus=1) leaves the mask alone: false there. Thread-safe.

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

namespace framepipe::detail {

inline bool one_processor() noexcept {
    static const bool one = [] {
#if defined(__linux__)
        cpu_set_t set;
        return sched_getaffinity(getpid(), sizeof(set), &set) == 0 && CPU_COUNT(&set) <= 1;
#else
        return false;
#endif
    }();
    return one;
}

}  // namespace framepipe::detail
