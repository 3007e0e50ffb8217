// CpuMeter over /proc/stat (the machine) and CLOCK_PROCESS_CPUTIME_ID (this process).
#include <framepipe/cpu_meter.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace framepipe {
namespace {

class SystemCpuMeter final : public CpuMeter {
public:
    [[nodiscard]] std::optional<CpuTimes> read() const noexcept override {
        std::FILE* stat = std::fopen("/proc/stat", "re");
        if (stat == nullptr) return std::nullopt;
        // "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (all processors), then "cpuN ...".
        unsigned long long v[8] = {};
        char line[512];
        std::size_t cores = 0;
        bool total_read = false;
        while (std::fgets(line, sizeof line, stat) != nullptr) {
            if (std::strncmp(line, "cpu", 3) != 0) break;
            if (line[3] == ' ') {
                total_read = std::sscanf(line + 3, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                                         &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4;
            } else {
                ++cores;
            }
        }
        std::fclose(stat);
        timespec process{};
        if (!total_read || ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &process) != 0) return std::nullopt;
        const long ticks = ::sysconf(_SC_CLK_TCK);
        const auto in_ns = [ticks](unsigned long long t) {
            return Duration{static_cast<std::int64_t>(t * (1'000'000'000ULL / static_cast<unsigned long long>(ticks > 0 ? ticks : 100)))};
        };
        const unsigned long long idle = v[3] + v[4];  // idle, waiting for I/O
        const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        CpuTimes t;
        t.machine_busy = in_ns(busy);
        t.machine_total = in_ns(busy + idle);
        t.process = Duration{static_cast<std::int64_t>(process.tv_sec) * 1'000'000'000 + process.tv_nsec};
        t.cores = cores;
        return t;
    }
};

}  // namespace

const CpuMeter& system_cpu_meter() noexcept {
    static const SystemCpuMeter meter;
    return meter;
}

}  // namespace framepipe
