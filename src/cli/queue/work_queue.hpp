#pragma once
// The work queue: a Redis Stream of inputs shared by workers through a consumer group.
//
//   STREAM            entries { input: URI [, name: NAME] }, added by `framepipe submit`
//   STREAM:results    one entry per input done: what was run, by whom, and the report's key figures
//   STREAM:dead       inputs that failed `tries` times, with the last error
//
// An entry goes to one worker (XREADGROUP) and stays pending until a worker acknowledges it, which it does in one
// script run atomically by Redis: the result or dead letter is appended only if the acknowledgement took the entry off
// the pending list. So an entry is never acknowledged without its record, and never recorded twice: not when a slow
// worker and the one that claimed its entry both finish it, nor when a worker repeats the call because the reply was
// lost with the connection. A worker that dies leaves its entry pending; any worker claims entries idle longer than
// `claim_after` (XAUTOCLAIM), and the entry's delivery count says how many times it was tried.
//
// Thread-safety: one WorkQueue per thread (it owns a RedisClient). A lost connection throws RedisUnreachable from any
// call; reconnect() then makes it usable again.

#include "redis_client.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace framepipe::cli {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct QueueEntry {
    std::string id;
    std::string input;
    std::string name;             // empty: the input's own
    long long deliveries = 1;     // how many times the group handed it out, this time included
};

class WorkQueue {
public:
    WorkQueue(const QueueAddress& address, std::string group, std::string consumer, std::chrono::milliseconds timeout);

    [[nodiscard]] const std::string& results_stream() const { return results_; }
    [[nodiscard]] const std::string& dead_stream() const { return dead_; }

    /// Makes the group (from the stream's first entry, and the stream if there is none) unless it exists.
    void ensure_group();
    /// An entry idle longer than `claim_after` in any consumer's pending list, claimed for this one; else a new entry,
    /// waiting up to `wait` for one. nullopt when there is none.
    std::optional<QueueEntry> next(std::chrono::milliseconds claim_after, std::chrono::milliseconds wait);
    enum class Recorded {
        yes,       // acknowledged and recorded
        already,   // acknowledged before (by another worker that finished it too, or this call's earlier try): nothing
                   // written
        lost,      // Redis no longer had the entry (a restart without persistence): recorded, marked lost_by_redis
    };
    /// Acknowledges the entry and appends `result` to STREAM:results, atomically.
    Recorded complete(const QueueEntry& entry, const Fields& result);
    /// The same, with `record` appended to STREAM:dead.
    Recorded bury(const QueueEntry& entry, const Fields& record);
    /// Marks the entry as being worked on (its idle time back to 0), so that no other worker claims it from a live
    /// one: a worker calls this every fraction of `claim_after` while it runs an input. Takes it back if another
    /// worker had claimed it meanwhile (complete() records it once either way).
    void keep(const QueueEntry& entry);
    /// Gives the entry back unfinished: it stays pending, marked idle for long, so the next worker that looks claims it
    /// at once instead of after claim_after.
    void hand_back(const QueueEntry& entry);
    /// Connects again (after RedisUnreachable) and makes the group if the server lost it.
    void reconnect();
    /// Entries handed out and not yet acknowledged (all consumers of the group).
    long long pending();
    /// Entries not yet handed out to the group (the backlog).
    long long backlog();
    /// Adds an input; returns the entry's id.
    std::string submit(const std::string& input, const std::string& name);

private:
    std::optional<QueueEntry> entry_from(const Reply& entry);
    Recorded record_and_ack(const std::string& stream, const QueueEntry& entry, const Fields& fields);

    RedisClient redis_;
    std::string claim_from_ = "0-0";  // XAUTOCLAIM's cursor: each call goes on where the last stopped
    std::string stream_;
    std::string results_;
    std::string dead_;
    std::string group_;
    std::string consumer_;
};

}  // namespace framepipe::cli
