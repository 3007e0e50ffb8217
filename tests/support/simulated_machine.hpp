#pragma once
// A machine in simulated time, for pipelines whose limit must be known by construction whatever the real machine does:
// a ManualClock that a driver moves to the next wake-up whenever every thread waiting on it is asleep and nothing else
// moves, and a CpuMeter whose processors are as busy as the simulated stages' declared work plus a load the test gives
// to "other processes".
//
// Work and waiting are both sleeps on the clock: a SimulatedWork stage holds its worker thread (as computing would)
// and declares its time as processor time; a SimulatedWait stage (blocking_io) waits as a disk would and declares
// nothing. A stage's busy time, its edges' waits and every age are therefore exact multiples of the costs the test
// chose, so the verdict's inputs are known by construction.
//
// The driver steps the clock when nothing in the process can run until the clock moves: some thread sleeps on the clock,
// every other thread is asleep too (the kernel's own view, /proc/self/task/*/stat: none running or waiting for a
// processor), and that held for three looks in a row. So a loaded machine or a sanitizer makes the test slower, never
// different.

#include <framepipe/clock.hpp>
#include <framepipe/cpu_meter.hpp>
#include <framepipe/frame.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace framepipe::test {

class SimulatedMachine final : public CpuMeter {
public:
    explicit SimulatedMachine(std::size_t cores, double other_processes_cores = 0)
        : cores_(cores), others_(other_processes_cores), start_(clock.now()) {}

    ManualClock clock;

    /// Processor time the pipeline spent (a simulated stage's work).
    void work(Duration d) noexcept {
        work_ns_.fetch_add(d.count());
        events_.fetch_add(1);
    }
    /// Something moved that the driver should wait for (a read, a wait begun).
    void note() noexcept { events_.fetch_add(1); }

    [[nodiscard]] std::optional<CpuTimes> read() const noexcept override {
        const Duration elapsed = clock.now() - start_;
        const Duration process{work_ns_.load()};
        CpuTimes t;
        t.cores = cores_;
        t.process = process;
        t.machine_total = elapsed * static_cast<std::int64_t>(cores_);
        t.machine_busy = std::min(t.machine_total,
                                  process + std::chrono::duration_cast<Duration>(elapsed * others_));
        return t;
    }

    /// Runs `pipeline` (built with clock and this meter in its options) to its end, stepping the clock.
    RunReport run(Pipeline& pipeline) {
        std::atomic<bool> done{false};
        std::thread driver([&] {
            using namespace std::chrono_literals;
            const std::string self = std::to_string(::gettid());
            std::size_t last_sleepers = 0;
            std::int64_t last_events = -1;
            int still = 0;
            while (!done.load()) {
                std::this_thread::sleep_for(100us);
                const std::size_t sleepers = clock.sleepers();
                const std::int64_t events = events_.load();
                const bool settled = sleepers > 0 && sleepers == last_sleepers && events == last_events &&
                                     every_other_thread_sleeps(self);
                last_sleepers = sleepers, last_events = events;
                still = settled ? still + 1 : 0;
                if (still >= 3) {  // three looks in a row: nothing ran, nothing can run until the clock moves
                    clock.advance_to_next_wake();
                    still = 0;
                }
            }
        });
        RunReport report;
        try {
            report = pipeline.run();
        } catch (...) {
            done.store(true);
            driver.join();
            throw;
        }
        done.store(true);
        driver.join();
        return report;
    }

    [[nodiscard]] PipelineOptions options(std::size_t threads) const {
        PipelineOptions o;
        o.clock = &clock;
        o.cpu_meter = this;
        o.worker_threads = threads;
        return o;
    }

private:
    // True when every thread of this process but `self` is asleep (state S in /proc: waiting on the clock, an edge, a
    // condition, or parked by the scheduler), so none is running or waiting for a processor. This is what makes a step
    // safe whatever the machine's load: a thread that could run shows as R however long the machine keeps it waiting.
    static bool every_other_thread_sleeps(const std::string& self) {
        std::error_code error;
        for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
            const std::string tid = task.path().filename().string();
            if (tid == self) continue;
            std::ifstream stat(task.path() / "stat");
            std::string line;
            if (!std::getline(stat, line)) continue;  // the thread has ended
            const std::size_t name_end = line.rfind(')');
            if (name_end == std::string::npos || name_end + 2 >= line.size()) return false;
            const char state = line[name_end + 2];
            if (state != 'S') return false;
        }
        return !error;
    }

    std::size_t cores_;
    double others_;
    TimePoint start_;
    std::atomic<std::int64_t> work_ns_{0};
    std::atomic<std::int64_t> events_{0};
};

/// A stage that computes for `cost` of simulated time per frame (holding its worker).
class SimulatedWork final : public Stage {
public:
    SimulatedWork(SimulatedMachine& machine, std::string name, Duration cost, bool parallel = false)
        : Stage({.name = std::move(name), .parallel = parallel}), machine_(machine), cost_(cost) {}
    Outcome process(Frame&) override {
        machine_.work(cost_);
        (void)machine_.clock.sleep_until(machine_.clock.now() + cost_);
        return Outcome::pass;
    }

private:
    SimulatedMachine& machine_;
    Duration cost_;
};

/// An output that waits `cost` per frame on its disk (blocking_io; no processor time).
class SimulatedWait final : public Stage {
public:
    SimulatedWait(SimulatedMachine& machine, std::string name, Duration cost)
        : Stage({.name = std::move(name), .blocking_io = true, .read_only = true}), machine_(machine), cost_(cost) {}
    Outcome process(Frame&) override {
        machine_.note();
        (void)machine_.clock.sleep_until(machine_.clock.now() + cost_);
        return Outcome::pass;
    }

private:
    SimulatedMachine& machine_;
    Duration cost_;
};

/// `frames` tiny frames. A file reads them as fast as the pipeline takes them; a live source delivers one every
/// 1/fps of the clock, and after frame `stall_after` (if set) delivers nothing for `stall` (a network stall).
class SimulatedSource final : public Source {
public:
    struct Options {
        std::string name = "input";
        std::int64_t frames = 100;
        bool live = false;
        double fps = 25;
        std::int64_t stall_after = -1;
        Duration stall{};
    };
    SimulatedSource(SimulatedMachine& machine, Options options) : machine_(machine), options_(std::move(options)) {}

    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = options_.name;
        info.live = options_.live;
        info.fps = options_.fps;
        info.size = {16, 8};
        next_ = clock().now();
        return info;
    }
    ReadResult read(Frame& frame, std::stop_token stop) override {
        if (produced_ >= options_.frames || stop.stop_requested()) return ReadResult::end_of_stream;
        const Duration interval = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / options_.fps));
        if (options_.live) {
            if (produced_ == options_.stall_after) next_ += options_.stall;
            machine_.note();
            if (!clock().sleep_until(next_, stop)) return ReadResult::end_of_stream;
            next_ += interval;
        }
        machine_.note();
        frame.prepare_image({16, 8}, CV_8UC3);
        frame.media_time = interval * produced_;
        ++produced_;
        return ReadResult::frame;
    }

private:
    SimulatedMachine& machine_;
    Options options_;
    TimePoint next_{};
    std::int64_t produced_ = 0;
};

}  // namespace framepipe::test
