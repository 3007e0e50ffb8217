#include "redis_client.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <charconv>

namespace framepipe::cli {
namespace {

Reply convert(const redisReply* reply) {
    Reply out;
    switch (reply->type) {
        case REDIS_REPLY_INTEGER:
            out.kind = Reply::Kind::integer;
            out.integer = reply->integer;
            break;
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
        case REDIS_REPLY_ERROR:
            out.kind = Reply::Kind::string;
            out.string.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ARRAY:
            out.kind = Reply::Kind::array;
            for (std::size_t i = 0; i < reply->elements; ++i) out.elements.push_back(convert(reply->element[i]));
            break;
        default:
            break;
    }
    return out;
}

timeval to_timeval(std::chrono::milliseconds ms) {
    return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

}  // namespace

std::string QueueAddress::shown() const { return fmt::format("redis://{}:{}/{}", host, port, stream); }

QueueAddress parse_queue_address(const std::string& url) {
    const auto bad = [&](const char* why) {
        // The URL may hold a password: it is not repeated.
        return ConfigError(fmt::format("--queue: {}; write redis://HOST[:PORT]/STREAM (or redis://:PASSWORD@HOST...)",
                                       why));
    };
    constexpr std::string_view scheme = "redis://";
    if (url.rfind(scheme, 0) != 0) throw bad("the queue URL must start with redis://");
    std::string rest = url.substr(scheme.size());
    QueueAddress address;
    if (const auto at = rest.rfind('@', rest.find('/')); at != std::string::npos && at < rest.find('/')) {
        const std::string credentials = rest.substr(0, at);
        address.password = credentials.substr(credentials.find(':') == std::string::npos ? 0 : credentials.find(':') + 1);
        rest = rest.substr(at + 1);
    }
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash + 1 >= rest.size()) throw bad("the URL names no stream after the host");
    address.stream = rest.substr(slash + 1);
    std::string host_port = rest.substr(0, slash);
    if (const auto colon = host_port.rfind(':'); colon != std::string::npos) {
        const std::string port = host_port.substr(colon + 1);
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
            throw bad("the port is not a number from 1 to 65535");
        address.port = value;
        host_port.resize(colon);
    }
    if (host_port.empty()) throw bad("the URL names no host");
    address.host = host_port;
    return address;
}

RedisClient::RedisClient(const QueueAddress& address, std::chrono::milliseconds timeout)
    : address_(address), server_(fmt::format("{}:{}", address.host, address.port)), timeout_(timeout) {
    connect();
}

void RedisClient::connect() {
    context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, to_timeval(timeout_));
    if (context_ == nullptr) throw Error(fmt::format("redis {}: cannot connect (out of memory)", server_));
    if (context_->err != 0) {
        const std::string why = context_->errstr;
        redisFree(context_);
        context_ = nullptr;
        throw RedisUnreachable(
            fmt::format("redis {}: cannot connect: {}; is redis-server running there?", server_, why));
    }
    set_timeout(timeout_);
    if (!address_.password.empty()) {
        std::string error;
        command({"AUTH", address_.password}, &error);
        if (!error.empty()) throw Error(fmt::format("redis {}: the password was refused: {}", server_, error));
    }
}

void RedisClient::reconnect() {
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
    connect();
}

RedisClient::~RedisClient() {
    if (context_ != nullptr) redisFree(context_);
}

void RedisClient::set_timeout(std::chrono::milliseconds timeout) {
    if (context_ == nullptr) throw RedisUnreachable(fmt::format("redis {}: not connected", server_));
    if (redisSetTimeout(context_, to_timeval(timeout)) != REDIS_OK)
        throw Error(fmt::format("redis {}: cannot set a timeout", server_));
}

Reply RedisClient::command(const std::vector<std::string>& args, std::string* error) {
    if (context_ == nullptr)
        throw RedisUnreachable(fmt::format("redis {}: {} failed: not connected", server_, args.empty() ? "" : args[0]));
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr)  // the connection is broken (or timed out): hiredis cannot use it again
        throw RedisUnreachable(fmt::format("redis {}: {} failed: {}", server_, args.empty() ? "" : args[0],
                                context_->errstr[0] != '\0' ? context_->errstr : "no reply"));
    const std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) {
        std::string text(reply->str, reply->len);
        // Replies that mean "not now" (a server loading its data after a restart, a replica, a busy script) or that
        // the group went with a restart without persistence: retried like a lost connection, after a reconnect.
        for (const char* transient : {"LOADING", "BUSY ", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOGROUP"})
            if (text.rfind(transient, 0) == 0)
                throw RedisUnreachable(
                    fmt::format("redis {}: {} failed: {}", server_, args.empty() ? "" : args[0], text));
        if (error != nullptr) {
            *error = std::move(text);
            return {};
        }
        throw Error(fmt::format("redis {}: {} failed: {}", server_, args.empty() ? "" : args[0], text));
    }
    return convert(reply);
}

Reply RedisClient::blocking_command(const std::vector<std::string>& args, std::chrono::milliseconds block) {
    set_timeout(timeout_ + block);
    Reply reply = command(args);
    set_timeout(timeout_);
    return reply;
}

}  // namespace framepipe::cli
