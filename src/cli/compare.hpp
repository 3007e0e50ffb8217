#pragma once
// framepipe compare PIPELINE INPUT... : the user's own pipeline on their own inputs, run in the ways people time by
// hand, side by side in one run, as one table (or JSON):
//   sequential          one input after another, each by a process with 1 worker thread (and 1 decoder thread)
//   thread per input    one process, every input at once, as many worker threads as inputs (1 decoder thread each)
//   process per input   a process per input, all at once, each as in sequential
//   graph, no planner   one process, every input at once, framepipe's defaults but every stage as declared
//   framepipe graph     `framepipe run` as it is
// The first four run every stage as declared (--no-plan), as a hand-written loop of the same calls would; the last
// row adds the planner, so its share shows.
// Each way is `framepipe run` in child processes, in a folder of its own (the pipeline's relative output paths land
// there), with wall time, CPU time and peak memory from the kernel (wait4), frames and end-to-end latency from the
// run's report, and the files written: count, bytes and a checksum, compared with the sequential way's.
//
// Exit codes: 0 when every way ran and delivered the same frames; 1 when a way failed or delivered other frame counts
// (the table says which); 2 for a bad pipeline, input or option (checked before anything runs).

#include <string>
#include <vector>

namespace framepipe::cli {

struct CompareArgs {
    std::string pipeline;
    std::vector<std::string> inputs;
    std::vector<std::string> sets;  // --set, given to every way
    std::string out;                // where each way writes; empty: a temporary folder, removed at the end
    bool json = false;
};

int compare(const CompareArgs& args);

}  // namespace framepipe::cli
