#pragma once
// framepipe worker PIPELINE --queue redis://HOST:PORT/STREAM: runs the pipeline on each input of a shared work queue
// (work_queue.hpp), one input at a time, until stopped; framepipe submit --queue ... INPUT...: adds inputs.
//
// Per input: the pipeline runs with every stage's `overwrite` on, so a second try of the same input (after a worker
// died midway) writes the same names again instead of being refused or leaving two sets of outputs. The entry is
// acknowledged, with its result record, only after the run returned: every output closed and renamed into place. A
// run that failed (an error, nothing delivered, frames its outputs could not write) leaves the entry pending for
// another try, by any worker, once it has been idle `claim_after`; after `tries` tries it goes to the dead letters.
// While a run goes on, the worker keeps its entry (resets its idle time every third of `claim_after`), so only a dead
// or cut-off worker's entry is claimed.
//
// Redis going away (a restart, a network cut) does not end a worker: it reconnects with a backoff and goes on, and an
// input finished meanwhile is recorded once Redis is back.
//
// Signals: the first SIGINT or SIGTERM lets the current input finish, then the worker exits (0); a second one stops the
// current input (its outputs finalised) and hands it back unacknowledged, for the next worker to take at once, then
// exits (1); a third
// ends the process at once.
//
// Metrics: with --metrics-file, the worker writes its counters and the queue's backlog and pending counts in
// Prometheus text format after every input and every 10 s while idle (for node_exporter's textfile collector).

#include <chrono>
#include <string>
#include <vector>

namespace framepipe::cli {

struct WorkerArgs {
    std::string pipeline;
    std::string queue;
    std::vector<std::string> sets;
    std::string group = "framepipe";
    std::string consumer;                  // empty: HOST-PID
    std::string claim_after = "60s";       // a duration as pipeline files write them
    int tries = 3;
    bool exit_when_empty = false;
    std::string metrics_file;
};

struct SubmitArgs {
    std::string queue;
    std::vector<std::string> inputs;       // INPUT or NAME=INPUT, as run takes them
};

int worker(const WorkerArgs& args);
int submit(const SubmitArgs& args);

}  // namespace framepipe::cli
