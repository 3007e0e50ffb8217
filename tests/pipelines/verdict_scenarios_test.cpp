// The verdict on pipelines whose limit is known by construction, on a simulated 2-processor machine (see
// support/simulated_machine.hpp): every cost is simulated time, every processor second is declared, so the answer does
// not depend on the machine the test runs on. Each scenario asserts the limit's kind, what it names, and the words a
// user reads. perf/verdict_scenarios runs the same scenarios with real work on the real machine.
#include "support/simulated_machine.hpp"
#include "support/test_stages.hpp"

#include <framepipe/pipeline.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace framepipe;
using namespace framepipe::test;
using namespace std::chrono_literals;

namespace {

bool says(const RunReport& report, std::string_view text) { return report.verdict.find(text) != std::string::npos; }

const Limit& only_limit(const RunReport& report) {
    REQUIRE(report.limits.size() == 1);
    return report.limits.front();
}

std::unique_ptr<SimulatedSource> file(SimulatedMachine& m, std::int64_t frames = 80) {
    return std::make_unique<SimulatedSource>(m, SimulatedSource::Options{.name = "clip", .frames = frames});
}
std::unique_ptr<SimulatedSource> camera(SimulatedMachine& m, double fps, std::int64_t frames, std::string name = "cam") {
    return std::make_unique<SimulatedSource>(
        m, SimulatedSource::Options{.name = std::move(name), .frames = frames, .live = true, .fps = fps});
}
std::unique_ptr<SimulatedWork> work(SimulatedMachine& m, std::string name, Duration cost, bool parallel = false) {
    return std::make_unique<SimulatedWork>(m, std::move(name), cost, parallel);
}

}  // namespace

TEST_CASE("verdict: a serial stage that computes most of each frame's time limits a file's throughput") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine))
        .add(work(machine, "prepare", 1ms, true))
        .add(work(machine, "score", 20ms))
        .add(work(machine, "label", 1ms));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    REQUIRE(report.ok());
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::stage);
    CHECK(limit.stage == "score");
    CHECK(says(report, "'score' limits throughput: busy "));
    CHECK(report.sources.at(0).stages.at(1).utilisation > 0.85);
    CHECK(says(report, "it is serial"));
}

TEST_CASE("verdict: a parallel stage that keeps every processor busy is named, not the machine in general") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine)).add(work(machine, "heavy", 20ms, true)).add(work(machine, "sink", 100us));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    REQUIRE(report.machine.has_value());
    CHECK(report.machine->busy_cores > 1.8);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::stage);
    CHECK(limit.stage == "heavy");
    CHECK(says(report, "all 2 processors were busy"));
    CHECK(says(report, "'heavy' did "));
}

TEST_CASE("verdict: the decode stage that limits a file is named as the decoder") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine)).add(work(machine, "decode", 15ms)).add(work(machine, "resize", 2ms, true));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::decoder);
    CHECK(limit.stage == "decode");
    CHECK(says(report, "The decoder ('decode') limits throughput"));
    CHECK(says(report, "decode_threads"));
}

TEST_CASE("verdict: an output that waits on its disk is the limit, as a writer") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine))
        .add(work(machine, "resize", 2ms, true))
        .add(std::make_unique<SimulatedWait>(machine, "save", 12ms));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::writer);
    CHECK(limit.stage == "save");
    CHECK(says(report, "The output 'save' limits throughput"));
    CHECK(says(report, "waits on its disk or encoder"));
    CHECK(report.machine->busy_cores < 0.5);  // the processors were mostly idle: not the machine
}

TEST_CASE("verdict: a live source slower than the pipeline sets the pace, and nothing limits") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(camera(machine, 10, 40)).add(work(machine, "detect", 30ms)).add(work(machine, "draw", 5ms));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::source_pace);
    CHECK(says(report, "Nothing limits: the source sets the pace"));
    CHECK(says(report, "frames/s captured of the 10.0 it states"));
    CHECK(report.sources.at(0).dropped() == 0);
}

TEST_CASE("verdict: several stages that together keep every processor busy make the machine the limit") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine, 120))
        .add(work(machine, "convert", 6ms, true))
        .add(work(machine, "blur", 7ms, true))
        .add(work(machine, "resize", 6ms, true));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::machine);
    CHECK(limit.stage == "blur");  // the costliest, named in the advice
    CHECK(says(report, "The machine is the limit: all 2 processors were busy"));
    CHECK(says(report, "'blur' first"));
}

TEST_CASE("verdict: processors taken by other processes are the limit, not the pipeline") {
    SimulatedMachine machine(2, /*other_processes_cores=*/1.0);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine)).add(work(machine, "score", 10ms)).add(work(machine, "sink", 100us));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    REQUIRE(report.machine.has_value());
    CHECK(report.machine->other_cores() == doctest::Approx(1.0).epsilon(0.05));
    CHECK(report.machine->process_cores == doctest::Approx(1.0).epsilon(0.05));
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::other_processes);
    CHECK(says(report, "Other processes are the limit"));
    CHECK(says(report, "1.00 of them other processes' work"));
}

TEST_CASE("verdict: a light stage starved of processors by a heavy neighbour is named as waiting, the neighbour as "
          "the limit") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine, 80)).add(work(machine, "heavy", 200ms, true));  // 8 s, both processors
    pipeline.add_source(camera(machine, 25, 150, "door")).add(work(machine, "light", 2ms), {.capacity = 2});  // 6 s
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::stage);
    CHECK(limit.stage == "heavy");
    CHECK(says(report, "'light' of door waited for a processor"));
    CHECK(report.sources.at(1).dropped() > 0);  // the door camera lost frames while 'light' waited
}

TEST_CASE("verdict: frames older than max_age when a slow stage reaches them name that stage and max_age") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(camera(machine, 25, 100))
        .add(work(machine, "detect", 60ms), {.capacity = 8, .overflow = Overflow::block, .max_age = 100ms});
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::stage);
    CHECK(limit.stage == "detect");
    const EdgeReport& edge = report.sources.at(0).edges.at(0);
    CHECK(edge.expired > 0);
    CHECK(says(report, "older than max_age (100 ms)"));
    CHECK(says(report, "raise max_age"));
}

TEST_CASE("verdict: a live source dropping its oldest frames at a slow stage names that stage and the overflow") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(camera(machine, 25, 100)).add(work(machine, "analyse", 70ms), {.capacity = 1});
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::stage);
    CHECK(limit.stage == "analyse");
    const SourceReport& s = report.sources.at(0);
    CHECK(s.edges.at(0).dropped_oldest > 30);  // about 3 in 7: a frame every 40 ms, 70 ms each
    CHECK(says(report, fmt::format("{} of 100 frames were dropped at cam -> analyse: the edge was full (drop_oldest)",
                                   s.edges.at(0).dropped_oldest)));
    CHECK(says(report, "that keeps the output live"));
}

TEST_CASE("verdict: a network stall of a live input makes the input the limit") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline
        .add_source(std::make_unique<SimulatedSource>(
            machine, SimulatedSource::Options{.name = "street", .frames = 100, .live = true, .fps = 25,
                                              .stall_after = 50, .stall = 3s}))
        .add(work(machine, "detect", 5ms));
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const SourceReport& s = report.sources.at(0);
    CHECK(s.stalls == 1);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::input);
    CHECK(says(report, "The input is the limit: nothing arrived for 3.0 s"));
}

TEST_CASE("verdict: a slow branch that holds back its sibling is named with its branch") {
    SimulatedMachine machine(2);
    Pipeline pipeline(machine.options(2));
    pipeline.add_source(file(machine))
        .add(work(machine, "resize", 1ms, true))
        .add(work(machine, "preview", 1ms))
        .add(std::make_unique<SimulatedWait>(machine, "archive", 10ms), {}, "resize");
    const RunReport report = machine.run(pipeline);
    CAPTURE(report.verdict);
    const Limit& limit = only_limit(report);
    CHECK(limit.kind == LimitKind::writer);
    CHECK(limit.stage == "archive");
    CHECK(limit.branch == "archive");
    CHECK(says(report, "(on the branch to 'archive')"));
    CHECK(says(report, "the other branches ('preview') wait for it"));
    CHECK(report.sources.at(0).dropped() == 0);  // a file's branches wait: nothing lost
}
