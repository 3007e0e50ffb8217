#include "worker.hpp"

#include "config/command_line.hpp"
#include "../run_outcome.hpp"
#include "work_queue.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/pipeline_file.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/report.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <unistd.h>

namespace framepipe::cli {
namespace {

// Signals (see worker.hpp). Async-signal-safe: atomics, write(2), _exit(2).
std::atomic<int> g_signals{0};
std::atomic<Pipeline*> g_current{nullptr};

void say(const char* text) noexcept { (void)!::write(STDERR_FILENO, text, std::strlen(text)); }

extern "C" void on_worker_signal(int) {
    const int count = g_signals.fetch_add(1) + 1;
    if (count == 1) {
        say("\nworker: finishing the current input, then exiting (again: hand it back now)\n");
    } else if (count == 2) {
        if (Pipeline* pipeline = g_current.load()) pipeline->request_stop();
        say("\nworker: stopping the current input and handing it back\n");
    } else {
        ::_exit(1);
    }
}

std::string default_consumer() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "worker");
    return fmt::format("{}-{}", host, ::getpid());
}

struct Counters {
    std::uint64_t done = 0, failed = 0, dead = 0, frames = 0;
};

// Prometheus text format, written whole to a temporary name and renamed (the textfile collector never reads half).
void write_metrics(const std::string& path, const WorkerArgs& args, const std::string& consumer,
                   const QueueAddress& address, const Counters& counters, long long backlog, long long pending,
                   bool busy) {
    if (path.empty()) return;
    const std::string labels = fmt::format(R"(queue="{}",group="{}",worker="{}")", address.stream, args.group, consumer);
    std::string text;
    text += "# HELP framepipe_worker_inputs_total Inputs this worker tried, by outcome (done, failed: left for "
            "another try, dead: given up after the last try).\n# TYPE framepipe_worker_inputs_total counter\n";
    for (const auto& [outcome, count] :
         {std::pair{"done", counters.done}, std::pair{"failed", counters.failed}, std::pair{"dead", counters.dead}})
        text += fmt::format("framepipe_worker_inputs_total{{{},outcome=\"{}\"}} {}\n", labels, outcome, count);
    text += fmt::format("# HELP framepipe_worker_frames_total Frames delivered by this worker's runs.\n"
                        "# TYPE framepipe_worker_frames_total counter\nframepipe_worker_frames_total{{{}}} {}\n",
                        labels, counters.frames);
    text += fmt::format("# HELP framepipe_worker_busy 1 while the worker runs an input.\n"
                        "# TYPE framepipe_worker_busy gauge\nframepipe_worker_busy{{{}}} {}\n",
                        labels, busy ? 1 : 0);
    const bool reached = backlog >= 0 && pending >= 0;  // Redis answered; else its figures are left out
    text += fmt::format("# HELP framepipe_worker_queue_up 1 when the worker reached Redis for these metrics.\n"
                        "# TYPE framepipe_worker_queue_up gauge\nframepipe_worker_queue_up{{{}}} {}\n",
                        labels, reached ? 1 : 0);
    if (reached) {
        text += fmt::format("# HELP framepipe_queue_backlog Entries not yet handed to any worker of the group.\n"
                            "# TYPE framepipe_queue_backlog gauge\n"
                            "framepipe_queue_backlog{{queue=\"{}\",group=\"{}\"}} {}\n",
                            address.stream, args.group, backlog);
        text += fmt::format("# HELP framepipe_queue_pending Entries handed out and not yet acknowledged.\n"
                            "# TYPE framepipe_queue_pending gauge\n"
                            "framepipe_queue_pending{{queue=\"{}\",group=\"{}\"}} {}\n",
                            address.stream, args.group, pending);
    }
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << text;
        if (!out.flush()) {
            spdlog::warn("worker: cannot write the metrics file '{}'", temporary);
            return;
        }
    }
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) spdlog::warn("worker: cannot rename '{}' to '{}': {}", temporary, path, error.message());
}

// What stopped a run from counting as done, or empty.
std::string why_not_done(const RunReport& report) {
    if (!report.ok()) return report.error->describe();
    if (report.stopped) return "stopped before the end of the input";
    if (!report.balanced()) return "the frame accounting does not add up";
    for (const SourceReport& source : report.sources) {
        if (source.delivered == 0)
            return fmt::format("{}: nothing was delivered: {}", source.name, why_nothing_delivered(source));
        for (const StageReport& stage : source.stages) {
            if (stage.unwritten > 0)
                return fmt::format("{}: stage '{}' could not write {} frame(s)", source.name, stage.name, stage.unwritten);
            if (!stage.output_stopped.empty())
                return fmt::format("{}: stage '{}': {}", source.name, stage.name, stage.output_stopped);
        }
    }
    return {};
}

// Runs `call` on the queue; while Redis is unreachable (restarting, a network cut), reconnects with a backoff of 0.5 s
// doubling to 5 s and runs it again, until it succeeds or `give_up_at` signals have come (then the RedisUnreachable
// propagates). Repeating a call is safe: reads change nothing, and complete()/bury() write nothing twice.
template <class Call>
auto with_redis(WorkQueue& queue, const QueueAddress& address, int give_up_at, Call&& call) {
    std::chrono::milliseconds backoff(500);
    bool said = false;
    for (;;) {
        try {
            auto result = call();
            if (said) spdlog::info("worker: {} is back", address.shown());
            return result;
        } catch (const RedisUnreachable& e) {
            if (g_signals.load() >= give_up_at) throw;
            if (!said)
                spdlog::warn("worker: lost the queue ({}); reconnecting until it is back (entries taken stay pending "
                             "meanwhile)",
                             e.what());
            said = true;
        }
        for (auto waited = std::chrono::milliseconds(0); waited < backoff && g_signals.load() < give_up_at;
             waited += std::chrono::milliseconds(100))
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
        try {
            queue.reconnect();
        } catch (const Error&) {  // still away, or not ready (making the group failed): the next round tries again
        }
    }
}

}  // namespace

int worker(const WorkerArgs& args) {
    // Everything that can be checked is, before the queue is touched.
    const QueueAddress address = parse_queue_address(args.queue);
    if (args.tries < 1) throw ConfigError("--tries must be 1 or more");
    const auto claim_after = std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(args.claim_after));
    std::vector<std::string> sets = args.sets;
    {
        const PipelineFile plain = load_pipeline_file(args.pipeline, args.sets);
        for (const StageEntry& stage : plain.stages) {
            const StageSpec* spec = find_stage_spec(stage.type);
            const bool has_overwrite = spec != nullptr && std::any_of(spec->options.begin(), spec->options.end(),
                                                                      [](const OptionSpec& o) { return o.name == "overwrite"; });
            if (has_overwrite) sets.push_back(stage.name + ".overwrite=true");  // a second try writes the same names
        }
    }
    const PipelineFile file = load_pipeline_file(args.pipeline, sets);
    const std::string consumer = args.consumer.empty() ? default_consumer() : args.consumer;

    struct sigaction action {};
    action.sa_handler = on_worker_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    // Commands and connects bounded at 2 s (plus the 1 s block of XREADGROUP): a worker told to stop is never held
    // long by a Redis that does not answer.
    WorkQueue queue(address, args.group, consumer, std::chrono::seconds(2));
    queue.ensure_group();
    spdlog::info("worker {}: taking inputs from {} (group '{}')", consumer, address.shown(), args.group);
    Counters counters;
    auto last_metrics = std::chrono::steady_clock::now() - std::chrono::hours(1);
    // Stopping (a signal) while Redis is away: an idle worker leaves at once; one with a finished input to record
    // waits for Redis until a second signal (then the entry stays pending, and its outputs are redone by another).
    const auto idle = [&](auto call) { return with_redis(queue, address, 1, call); };
    const auto metrics = [&](bool busy) {
        if (args.metrics_file.empty()) return;
        long long backlog = -1, pending = -1;
        try {
            backlog = queue.backlog();
            pending = queue.pending();
        } catch (const RedisUnreachable&) {  // the figures are left out until Redis is back
        }
        write_metrics(args.metrics_file, args, consumer, address, counters, backlog, pending, busy);
        last_metrics = std::chrono::steady_clock::now();
    };

    while (g_signals.load() == 0) {
        std::optional<QueueEntry> entry;
        bool drained = false;
        try {
            entry = idle([&] { return queue.next(claim_after, std::chrono::seconds(1)); });
            if (!entry && args.exit_when_empty)
                drained = idle([&] { return queue.pending() == 0 && queue.backlog() == 0; });
        } catch (const RedisUnreachable&) {
            break;  // told to stop while Redis was away
        }
        if (!entry) {
            if (std::chrono::steady_clock::now() - last_metrics > std::chrono::seconds(10)) metrics(false);
            if (drained) {
                spdlog::info("worker {}: the queue is empty; exiting", consumer);
                break;
            }
            continue;
        }
        metrics(true);
        const std::string input = entry->name.empty() ? entry->input : entry->name + "=" + entry->input;
        spdlog::info("worker {}: {} (entry {}, try {} of {})", consumer, entry->input, entry->id, entry->deliveries,
                     args.tries);
        const auto started = std::chrono::steady_clock::now();
        std::string failure;
        std::optional<RunReport> report;
        // While it runs, the entry is kept (its idle time reset every third of claim_after) on a connection of its own,
        // so no other worker claims it from this live one; a dead worker's entry goes idle and is claimed.
        std::jthread keeper([&](const std::stop_token& stop) {
            const auto every = std::max<std::chrono::milliseconds>(claim_after / 3, std::chrono::milliseconds(100));
            const Clock& clock = SteadyClock::instance();
            std::optional<WorkQueue> own;
            while (clock.sleep_until(clock.now() + every, stop)) {
                try {
                    if (!own) own.emplace(address, args.group, consumer, std::chrono::milliseconds(300));
                    own->keep(*entry);
                } catch (const Error&) {  // Redis away: tried again next time, on a new connection
                    own.reset();
                }
            }
        });
        try {
            std::unique_ptr<Pipeline> pipeline = build_pipeline(file, {input});
            g_current.store(pipeline.get());
            if (g_signals.load() >= 2) pipeline->request_stop();
            report = pipeline->run();
            g_current.store(nullptr);
            failure = why_not_done(*report);
        } catch (const std::exception& e) {
            g_current.store(nullptr);
            failure = e.what();
        }
        keeper.request_stop();
        keeper.join();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (g_signals.load() >= 2) {  // handed back: not acknowledged, the next worker that looks claims it
            try {
                WorkQueue(address, args.group, consumer, std::chrono::milliseconds(300)).hand_back(*entry);
                spdlog::warn("worker {}: {} handed back unfinished (entry {}; the next worker takes it)", consumer,
                             entry->input, entry->id);
            } catch (const Error& e) {
                spdlog::warn("worker {}: {} handed back unfinished (entry {} stays pending, claimed once idle {}): {}",
                             consumer, entry->input, entry->id, args.claim_after, e.what());
            }
            return 1;
        }
        std::uint64_t captured = 0, delivered = 0, dropped = 0;
        if (report)
            for (const SourceReport& source : report->sources) {
                captured += source.captured;
                delivered += source.delivered;
                dropped += source.dropped();
            }
        Fields record{{"input", entry->input},  {"entry", entry->id},
                      {"worker", consumer},     {"tries", std::to_string(entry->deliveries)},
                      {"pipeline", args.pipeline}, {"seconds", fmt::format("{:.3f}", seconds)},
                      {"captured", std::to_string(captured)}, {"delivered", std::to_string(delivered)},
                      {"dropped", std::to_string(dropped)}};
        if (!entry->name.empty()) record.emplace_back("name", entry->name);
        const auto record_with = [&](auto call) {
            WorkQueue::Recorded recorded = WorkQueue::Recorded::yes;
            try {
                recorded = with_redis(queue, address, 2, call);
            } catch (const RedisUnreachable&) {
                spdlog::warn("worker {}: {} not recorded: Redis is away and the worker was told to stop (entry {} "
                             "stays pending; another worker will run it again)",
                             consumer, entry->input, entry->id);
                throw;
            }
            if (recorded == WorkQueue::Recorded::already)
                spdlog::warn("worker {}: {} had been recorded already (entry {}, finished by another worker too); "
                             "nothing more written",
                             consumer, entry->input, entry->id);
            else if (recorded == WorkQueue::Recorded::lost)
                spdlog::warn("worker {}: Redis no longer had entry {} ({}; restarted without persistence?): recorded "
                             "anyway, marked lost_by_redis",
                             consumer, entry->id, entry->input);
        };
        if (failure.empty()) {
            record.emplace_back("status", "done");
            record_with([&] { return queue.complete(*entry, record); });
            ++counters.done;
            counters.frames += delivered;
            spdlog::info("worker {}: {} done in {:.2f} s ({} frames)", consumer, entry->input, seconds, delivered);
        } else if (entry->deliveries >= args.tries) {
            record.emplace_back("status", "dead");
            record.emplace_back("error", failure);
            record_with([&] { return queue.bury(*entry, record); });
            ++counters.dead;
            spdlog::error("worker {}: {} failed on its last try ({} of {}), moved to {}: {}", consumer, entry->input,
                          entry->deliveries, args.tries, queue.dead_stream(), failure);
        } else {
            ++counters.failed;
            spdlog::warn("worker {}: {} failed (try {} of {}); it is tried again once idle {}: {}", consumer,
                         entry->input, entry->deliveries, args.tries, args.claim_after, failure);
        }
        metrics(false);
    }
    metrics(false);
    return 0;
}

int submit(const SubmitArgs& args) {
    const QueueAddress address = parse_queue_address(args.queue);
    if (args.inputs.empty()) throw ConfigError("submit: give the inputs to add");
    std::vector<InputEntry> inputs;
    for (const std::string& argument : args.inputs) inputs.push_back(parse_input(argument));
    WorkQueue queue(address, "framepipe", "submit", std::chrono::seconds(5));
    for (const InputEntry& input : inputs) fmt::print("{} {}\n", queue.submit(input.path, input.name), input.path);
    return 0;
}

}  // namespace framepipe::cli
