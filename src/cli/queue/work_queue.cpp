#include "work_queue.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

namespace framepipe::cli {

WorkQueue::WorkQueue(const QueueAddress& address, std::string group, std::string consumer,
                     std::chrono::milliseconds timeout)
    : redis_(address, timeout),
      stream_(address.stream),
      results_(address.stream + ":results"),
      dead_(address.stream + ":dead"),
      group_(std::move(group)),
      consumer_(std::move(consumer)) {}

void WorkQueue::ensure_group() {
    std::string error;
    redis_.command({"XGROUP", "CREATE", stream_, group_, "0", "MKSTREAM"}, &error);
    if (!error.empty() && error.rfind("BUSYGROUP", 0) != 0)
        throw Error(fmt::format("redis: cannot make the consumer group '{}' on '{}': {}", group_, stream_, error));
}

std::optional<QueueEntry> WorkQueue::entry_from(const Reply& entry) {
    // [id, [field, value, ...]]; a claimed entry deleted from the stream meanwhile has nil fields.
    if (entry.kind != Reply::Kind::array || entry.elements.size() != 2) return std::nullopt;
    QueueEntry out{.id = entry.elements[0].string};
    const Reply& fields = entry.elements[1];
    for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
        if (fields.elements[i].string == "input") out.input = fields.elements[i + 1].string;
        if (fields.elements[i].string == "name") out.name = fields.elements[i + 1].string;
    }
    const Reply pending = redis_.command({"XPENDING", stream_, group_, out.id, out.id, "1"});
    if (pending.elements.size() == 1 && pending.elements[0].elements.size() == 4)
        out.deliveries = pending.elements[0].elements[3].integer;
    return out;
}

std::optional<QueueEntry> WorkQueue::next(std::chrono::milliseconds claim_after, std::chrono::milliseconds wait) {
    // [next-start, [[id, [fields]] ...], [deleted ids]]
    // XAUTOCLAIM looks at up to 10 x COUNT pending entries per call: the cursor it returns lets the next call go on
    // past entries that live workers keep, so a dead worker's entry behind many of them is reached.
    const Reply claimed = redis_.command({"XAUTOCLAIM", stream_, group_, consumer_,
                                          std::to_string(claim_after.count()), claim_from_, "COUNT", "1"});
    if (!claimed.elements.empty() && claimed.elements[0].kind == Reply::Kind::string)
        claim_from_ = claimed.elements[0].string;
    if (claimed.elements.size() >= 2)
        for (const Reply& entry : claimed.elements[1].elements)
            if (auto out = entry_from(entry)) return out;
    // [[stream, [[id, [fields]] ...]]] or nil after the wait
    const Reply read = redis_.blocking_command({"XREADGROUP", "GROUP", group_, consumer_, "COUNT", "1", "BLOCK",
                                                std::to_string(wait.count()), "STREAMS", stream_, ">"},
                                               wait);
    if (read.is_nil() || read.elements.empty() || read.elements[0].elements.size() != 2) return std::nullopt;
    for (const Reply& entry : read.elements[0].elements[1].elements)
        if (auto out = entry_from(entry)) return out;
    return std::nullopt;
}

WorkQueue::Recorded WorkQueue::record_and_ack(const std::string& stream, const QueueEntry& entry,
                                              const Fields& fields) {
    // KEYS: the queue, the record's stream; ARGV: group, entry id, the record's fields and values. Returns 1 (recorded),
    // 0 (acknowledged before: the entry is still in the stream) or 2 (the stream no longer has it: recorded anyway).
    static const std::string script =
        "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then "
        "redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3)) return 1 end "
        "if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) > 0 then return 0 end "
        "redis.call('XADD', KEYS[2], '*', 'lost_by_redis', '1', unpack(ARGV, 3)) return 2";
    std::vector<std::string> args{"EVAL", script, "2", stream_, stream, group_, entry.id};
    for (const auto& [key, value] : fields) args.insert(args.end(), {key, value});
    const long long result = redis_.command(args).integer;
    return result == 1 ? Recorded::yes : result == 2 ? Recorded::lost : Recorded::already;
}

WorkQueue::Recorded WorkQueue::complete(const QueueEntry& entry, const Fields& result) {
    return record_and_ack(results_, entry, result);
}

WorkQueue::Recorded WorkQueue::bury(const QueueEntry& entry, const Fields& record) {
    return record_and_ack(dead_, entry, record);
}

void WorkQueue::keep(const QueueEntry& entry) {
    redis_.command({"XCLAIM", stream_, group_, consumer_, "0", entry.id, "JUSTID"});
}

void WorkQueue::hand_back(const QueueEntry& entry) {
    // IDLE sets the entry's idle time: a day is longer than any sensible claim_after. (It stays this consumer's until
    // claimed, which changes nothing: this one is leaving.)
    redis_.command({"XCLAIM", stream_, group_, consumer_, "0", entry.id, "IDLE", "86400000", "JUSTID"});
}

void WorkQueue::reconnect() {
    redis_.reconnect();
    ensure_group();
}

long long WorkQueue::pending() {
    const Reply summary = redis_.command({"XPENDING", stream_, group_});  // [count, min, max, [[consumer, n] ...]]
    return summary.elements.empty() ? 0 : summary.elements[0].integer;
}

long long WorkQueue::backlog() {
    // XINFO GROUPS: per group a flat [name, ..., lag, N, ...] (Redis 7); lag is nil when Redis cannot tell.
    const Reply groups = redis_.command({"XINFO", "GROUPS", stream_});
    for (const Reply& group : groups.elements) {
        bool ours = false;
        long long lag = -1;
        for (std::size_t i = 0; i + 1 < group.elements.size(); i += 2) {
            if (group.elements[i].string == "name") ours = group.elements[i + 1].string == group_;
            if (group.elements[i].string == "lag" && group.elements[i + 1].kind == Reply::Kind::integer)
                lag = group.elements[i + 1].integer;
        }
        if (ours && lag >= 0) return lag;
    }
    // Unknown lag (entries deleted): read what is left for the group, without taking it.
    const Reply length = redis_.command({"XLEN", stream_});
    return length.integer;
}

std::string WorkQueue::submit(const std::string& input, const std::string& name) {
    std::vector<std::string> args{"XADD", stream_, "*", "input", input};
    if (!name.empty()) args.insert(args.end(), {"name", name});
    return redis_.command(args).string;
}

}  // namespace framepipe::cli
