#pragma once
// How busy the machine's processors are, and how much of that is this process: what the verdict needs to tell "the
// machine is the limit" from "other processes take the cores" from "a stage is the limit". A pipeline reads its meter
// when the run starts and when it ends (PipelineOptions::cpu_meter); the report carries the difference
// (RunReport::machine). Tests inject a meter to put a run on a machine of known load, as they inject the clock.

#include <framepipe/clock.hpp>

#include <cstddef>
#include <optional>

namespace framepipe {

/// Cumulative processor times since some fixed point (boot, process start). Only differences mean anything.
struct CpuTimes {
    Duration machine_busy{};   // all processors, time not idle (user, nice, system, interrupts, steal)
    Duration machine_total{};  // all processors, busy + idle + waiting for I/O
    Duration process{};        // this process, every thread, user + system
    std::size_t cores = 0;     // processors the machine has online
};

/// Reads CpuTimes. Implementations must be callable from any thread.
class CpuMeter {
public:
    virtual ~CpuMeter() = default;
    /// None when the times cannot be read (no /proc).
    [[nodiscard]] virtual std::optional<CpuTimes> read() const noexcept = 0;
};

/// The machine's own: /proc/stat for the machine, CLOCK_PROCESS_CPUTIME_ID for the process. A process-wide instance.
const CpuMeter& system_cpu_meter() noexcept;

}  // namespace framepipe
