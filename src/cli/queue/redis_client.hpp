#pragma once
// A Redis connection for the work queue (hiredis, blocking, every call bounded in time), and the queue's address.
//
//   redis://[:PASSWORD@]HOST[:PORT]/STREAM      (PORT defaults to 6379; the password is never printed)
//
// Thread-safety: one RedisClient per thread. Failures throw framepipe::Error naming the server (never the password)
// and what failed; a reply of the wrong shape too. A failure of the connection itself (refused, reset, timed out)
// throws its subclass RedisUnreachable: the client is then unusable until reconnect() succeeds.

#include <framepipe/error.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace framepipe::cli {

struct QueueAddress {
    std::string host;
    int port = 6379;
    std::string password;
    std::string stream;
    /// "redis://HOST:PORT/STREAM", without the password, for messages.
    [[nodiscard]] std::string shown() const;
};

/// The server could not be reached, or the connection broke, or it answered "not now" (LOADING after a restart, BUSY,
/// MASTERDOWN, TRYAGAIN, READONLY) or NOGROUP (its data lost in a restart): worth a reconnect and another try.
class RedisUnreachable : public Error {
public:
    using Error::Error;
};

/// Parses a --queue URL. Throws ConfigError saying what a queue URL looks like.
QueueAddress parse_queue_address(const std::string& url);

/// A reply, as Redis gave it (RESP2): nil, an integer, a string (also status), or an array of replies.
struct Reply {
    enum class Kind { nil, integer, string, array } kind = Kind::nil;
    long long integer = 0;
    std::string string;
    std::vector<Reply> elements;
    [[nodiscard]] bool is_nil() const { return kind == Kind::nil; }
};

class RedisClient {
public:
    /// Connects (within `timeout`) and authenticates; every later call waits at most `timeout` beyond what the
    /// command itself asks to block for.
    RedisClient(const QueueAddress& address, std::chrono::milliseconds timeout);
    /// Drops the connection and connects again (within the timeout), as the constructor does.
    void reconnect();
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    /// Runs one command. A Redis error reply throws Error with its text, unless `error` is given: then it is stored
    /// there and a nil reply is returned.
    Reply command(const std::vector<std::string>& args, std::string* error = nullptr);
    /// A command that blocks on the server for up to `block` (XREADGROUP ... BLOCK): the read timeout is raised to
    /// cover it for this call.
    Reply blocking_command(const std::vector<std::string>& args, std::chrono::milliseconds block);

private:
    void connect();
    void set_timeout(std::chrono::milliseconds timeout);
    QueueAddress address_;
    std::string server_;
    std::chrono::milliseconds timeout_;
    redisContext* context_ = nullptr;
};

}  // namespace framepipe::cli
