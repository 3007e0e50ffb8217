#include <framepipe/clock.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace framepipe {
namespace {

#if defined(__x86_64__)
bool invariant_tsc() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
        if (line.rfind("flags", 0) == 0)
            return line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
    return false;
}

class TscClock final : public Clock {
public:
    TscClock() {
        // Two readings 20 ms apart give the counter's rate; steady_clock's time at the first gives its origin.
        const auto t0 = std::chrono::steady_clock::now();
        const unsigned long long c0 = __rdtsc();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const auto t1 = std::chrono::steady_clock::now();
        const unsigned long long c1 = __rdtsc();
        ns_per_tick_ = static_cast<double>((t1 - t0).count()) / static_cast<double>(c1 - c0);
        origin_ns_ = t0.time_since_epoch().count();
        origin_ticks_ = c0;
    }
    [[nodiscard]] TimePoint now() const noexcept override {
        const auto ticks = static_cast<double>(static_cast<long long>(__rdtsc() - origin_ticks_));
        return TimePoint{Duration{origin_ns_ + static_cast<std::int64_t>(ticks * ns_per_tick_)}};
    }

private:
    double ns_per_tick_ = 1;
    std::int64_t origin_ns_ = 0;
    unsigned long long origin_ticks_ = 0;
};
#endif

}  // namespace

const Clock& default_clock() noexcept {
#if defined(__x86_64__)
    static const bool use_tsc = invariant_tsc();
    if (use_tsc) {
        static const TscClock clock;
        return clock;
    }
#endif
    return SteadyClock::instance();
}

}  // namespace framepipe
