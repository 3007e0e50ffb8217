#include "live_view_server.hpp"

#include "../report/html_text.hpp"
#include "http_request.hpp"
#include "status_picture.hpp"
#include "stream_status.hpp"

#include <framepipe/error.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace framepipe::live {
namespace {

using Steady = std::chrono::steady_clock;

constexpr const char* kBoundary = "framepipe";
constexpr std::chrono::milliseconds kSnapshotWait{2000};   // how long /snapshot.jpg waits for a fresh picture
constexpr std::chrono::milliseconds kDrainTime{1000};      // after an answer: reading what the client still sends
constexpr std::chrono::milliseconds kAcceptPause{100};     // out of file descriptors: accepting pauses this long
constexpr std::chrono::seconds kRefusalLogInterval{10};   // refusals are summarised in the log at most this often
constexpr std::size_t kMaxHlsFileBytes = std::size_t{256} << 20;  // a larger playlist or segment is not served (500)
constexpr const char* kHlsRetryAfter = "2";                     // seconds, while the first playlist is not written
constexpr std::chrono::milliseconds kStatusCheck{500};       // how often the loop looks for streams without a picture
constexpr Duration kWaitingGrace = std::chrono::seconds(2);  // a new stream's viewers see "no signal yet" after this
// A status picture is sent again this often: a browser shows an MJPEG part only once the next one begins.
constexpr std::chrono::milliseconds kStatusRepeat{1000};

std::string errno_text(int error) { return std::strerror(error); }

/// An eventfd that wakes the loop: pictures published, streams closed, the server stopping. Shared with the streams,
/// which may outlive the server.
class Wakeup {
public:
    Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
        if (fd_ < 0) throw Error(fmt::format("live view: cannot create an eventfd: {}", errno_text(errno)));
    }
    ~Wakeup() { ::close(fd_); }
    Wakeup(const Wakeup&) = delete;
    Wakeup& operator=(const Wakeup&) = delete;
    void notify() const noexcept {
        const std::uint64_t one = 1;
        (void)!::write(fd_, &one, sizeof one);  // EAGAIN only when the counter is full: the loop is awake anyway
    }
    void drain() const noexcept {
        std::uint64_t value = 0;
        (void)!::read(fd_, &value, sizeof value);
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    int fd_;
};

/// Resolved addresses for host:port ("" port: none), brackets around IPv6 hosts removed. Throws ConfigError.
struct Resolved {
    addrinfo* list = nullptr;
    Resolved(const std::string& host, const std::string& port, int flags) {
        std::string name = host;
        if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = flags;
        const int rc = getaddrinfo(name.c_str(), port.empty() ? nullptr : port.c_str(), &hints, &list);
        if (rc != 0)
            throw ConfigError(fmt::format("live_view: cannot resolve the listen host '{}': {} (give an address such as "
                                          "127.0.0.1 or 0.0.0.0)",
                                          host, gai_strerror(rc)));
    }
    ~Resolved() {
        if (list != nullptr) freeaddrinfo(list);
    }
    Resolved(const Resolved&) = delete;
    Resolved& operator=(const Resolved&) = delete;
};

bool loopback_address(const sockaddr* address) {
    if (address->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address);
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (address->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

/// Whether a Host header names the loopback interface: localhost, 127.x.y.z or [::1], with or without a port.
bool loopback_name(std::string_view host) {
    if (host.starts_with('[')) {
        const std::size_t close = host.find(']');
        return close != std::string_view::npos && host.substr(1, close - 1) == "::1";
    }
    host = host.substr(0, host.find(':'));
    std::string lower(host);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "localhost" || lower.ends_with(".localhost")) return true;
    in_addr address{};
    return inet_pton(AF_INET, lower.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

/// The key of the per-client limit: an IPv4 peer's address, an IPv6 peer's /64 (one host is usually given a whole /64,
/// so counting single IPv6 addresses would not limit it).
std::string peer_of(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text, sizeof text);
    } else if (address.ss_family == AF_INET6) {
        in6_addr peer = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&peer)) {
            inet_ntop(AF_INET, &peer.s6_addr[12], text, sizeof text);
            return text;
        }
        std::fill(std::begin(peer.s6_addr) + 8, std::end(peer.s6_addr), std::uint8_t{0});
        inet_ntop(AF_INET6, &peer, text, sizeof text);
        return std::string(text) + "/64";
    }
    return text;
}

/// Why a connection was closed without being served; the label of framepipe_live_view_connections_refused_total.
enum class Refusal { client_limit, server_full, request_timeout, request_too_large, bad_request, unauthorized,
                     foreign_host, viewer_limit, write_timeout, count };
constexpr std::array<const char*, static_cast<std::size_t>(Refusal::count)> kRefusalNames = {
    "client_limit", "server_full", "request_timeout", "request_too_large", "bad_request", "unauthorized",
    "foreign_host", "viewer_limit", "write_timeout"};

/// An HLS playlist served under /hls/: the file `name` in `dir` and its segments `<stem>_<digits>.ts`, which is how
/// stream_out names them (hls_segment_filename); shown on the page with the stream `stream`.
struct HlsPlaylist {
    std::string stream;
    std::filesystem::path dir;
    std::string name;
    std::string stem;
};

/// Whether `name` is "<stem>_<digits>.ts": a segment stream_out wrote and renamed into place (while being written it is
/// "<name>.tmp", which this never matches).
bool is_segment_of(std::string_view name, std::string_view stem) {
    if (!name.starts_with(stem) || !name.ends_with(".ts")) return false;
    name.remove_prefix(stem.size());
    name.remove_suffix(3);
    if (name.size() < 2 || name.front() != '_') return false;
    name.remove_prefix(1);
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// A name that can only mean a file directly in the folder: not empty, no '/', no NUL, not starting with '.' (so
/// neither ".." nor a hidden or temporary file).
bool plain_file_name(std::string_view name) {
    return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
           name.find('\0') == std::string_view::npos;
}

/// The whole of the regular file `path` (a symbolic link is not followed), or nullopt with errno set: ENOENT when it
/// does not exist (yet, or any more), EFBIG past kMaxHlsFileBytes, EINVAL when it is not a regular file.
std::optional<std::string> read_whole_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    std::optional<std::string> data;
    struct stat info {};
    int error = 0;
    if (fstat(fd, &info) != 0) {
        error = errno;
    } else if (!S_ISREG(info.st_mode)) {
        error = EINVAL;
    } else if (static_cast<std::uint64_t>(info.st_size) > kMaxHlsFileBytes) {
        error = EFBIG;
    } else {
        std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
        std::size_t got = 0;
        while (got < bytes.size()) {
            const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                error = errno;
                break;
            }
            if (n == 0) break;  // shorter than it was: what is there
            got += static_cast<std::size_t>(n);
        }
        bytes.resize(got);
        if (error == 0) data = std::move(bytes);
    }
    ::close(fd);
    errno = error;
    return data;
}

/// The playlist with `?token=` (or `&token=`) added to each of its URI lines (the segments), so that a player given
/// the token in the playlist's address carries it on to the segments, as the page does to its links.
std::string with_token_on_uris(const std::string& playlist, const std::string& token) {
    const std::string suffix = "token=" + http::url_encoded(token);
    std::string out;
    out.reserve(playlist.size() + 64);
    std::size_t at = 0;
    while (at < playlist.size()) {
        std::size_t end = playlist.find('\n', at);
        if (end == std::string::npos) end = playlist.size();
        std::string_view line(playlist.data() + at, end - at);
        const bool cr = line.ends_with('\r');
        if (cr) line.remove_suffix(1);
        out += line;
        if (!line.empty() && line.front() != '#')
            out += (line.find('?') == std::string_view::npos ? "?" : "&") + suffix;
        if (cr) out += '\r';
        if (end < playlist.size()) out += '\n';
        at = end + 1;
    }
    return out;
}

struct Reply {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string headers;  // extra header lines, each ending in \r\n
    std::shared_ptr<const std::string> body;
};

/// The page's script: a picture that fails to load shows a "signal lost" drawing and is retried every 5 s (so the page
/// never shows a broken image), and each stream's status line is filled from /status.json once a second (`statusUrl`,
/// with the page's token, is defined before it).
constexpr const char* kPageScript = R"js(
function esc(t){return String(t).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function fallback(img){
  if(img.dataset.down)return;
  img.dataset.down='1';
  img.src='data:image/svg+xml,'+encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360">'+
    '<rect width="100%" height="100%" fill="#202028"/><text x="50%" y="45%" fill="#e55" font-family="sans-serif" '+
    'font-size="44" text-anchor="middle">SIGNAL LOST</text><text x="50%" y="62%" fill="#ddd" font-family="sans-serif" '+
    'font-size="24" text-anchor="middle">'+esc(img.alt)+'</text></svg>');
  setTimeout(()=>{delete img.dataset.down;img.src=img.dataset.src+'&retry='+Date.now();},5000);
}
function ago(s){s=Math.max(0,Math.round(s));return s<120?s+' s':s<7200?Math.round(s/60)+' min':Math.round(s/3600)+' h';}
function when(s){return s.since?new Date(s.since).toLocaleString():'?';}
function stateText(s){
  if(s.state==='lost')return 'signal lost since '+when(s)+' ('+ago(s.for_s)+'), reconnecting';
  if(s.state==='reconnecting')return 'reconnecting: signal lost since '+when(s)+', no picture yet';
  if(s.state==='waiting')return 'waiting for the first picture';
  return 'live';
}
function figuresText(s){
  const latency=s.latency_p50_ms==null?'-':Math.round(s.latency_p50_ms)+' ms';
  return s.fps.toFixed(1)+' frames/s · latency '+latency+' (p50) · '+s.dropped+' dropped'+
    (s.filtered>0?' · '+s.filtered+' filtered':'')+
    (s.reconnects>0?' · '+s.reconnects+' reconnects':'');
}
async function poll(){
  const cards=[...document.querySelectorAll('figure[data-stream]')];
  try{
    const r=await fetch(statusUrl,{cache:'no-store'});
    if(!r.ok)throw new Error(r.status);
    for(const s of (await r.json()).streams){
      const card=cards.find(c=>c.dataset.stream===s.name);
      if(!card)continue;
      const state=card.querySelector('.state');
      state.textContent=stateText(s);
      state.className='state '+s.state;
      card.querySelector('.figures').textContent=figuresText(s);
    }
  }catch(e){
    for(const c of cards){const state=c.querySelector('.state');state.textContent='view unreachable';state.className='state lost';}
  }
  setTimeout(poll,1000);
}
window.addEventListener('DOMContentLoaded',poll);
)js";

Reply text_reply(int status, std::string text) {
    Reply reply;
    reply.status = status;
    reply.body = std::make_shared<const std::string>(std::move(text));
    return reply;
}

}  // namespace

struct LiveViewServer::Impl {
    enum class State {
        head,       // reading the request head; deadline: request_timeout after accept
        waiting,    // /snapshot.jpg waiting for a fresh picture; deadline: kSnapshotWait
        answering,  // writing an answer; deadline: write_timeout after it started
        streaming,  // a viewer; deadline while a picture is being written: write_timeout after that picture started
        draining,   // answer sent and write side shut: reading until the client closes; deadline: kDrainTime
    };

    struct Connection {
        std::uint64_t id = 0;
        int fd = -1;
        std::string peer;
        State state = State::head;
        Steady::time_point accepted;
        Steady::time_point deadline = Steady::time_point::max();
        bool reading = true;  // EPOLLIN wanted (off once the client shut its side during an answer)
        std::string in;       // the request head as it arrives
        // Output: head, then body, then tail, from offset `sent` of the three together.
        std::string out_head;
        std::shared_ptr<const std::string> out_body;
        std::string out_tail;
        std::size_t sent = 0;
        bool writing = false;
        bool head_only = false;  // HEAD: the answer has no body
        // waiting and streaming
        std::shared_ptr<LatestPicture> stream;
        std::uint64_t last = 0;        // number of the last picture sent (or the one a snapshot waits to pass)
        std::uint64_t part_number = 0;  // number of the picture being written
        bool viewer = false;           // counted in viewers and in the stream's viewers
        std::string query_token;       // the token as given in ?token=, for the page's links
    };

    Settings settings;
    std::string address;  // host:port as asked, the registry's key
    int port = 0;
    int listen_fd = -1;
    int epoll_fd = -1;
    std::shared_ptr<Wakeup> wakeup = std::make_shared<Wakeup>();
    std::atomic<bool> stopping{false};
    std::thread loop_thread;
    std::atomic<const LiveReport*> report{nullptr};

    mutable std::mutex streams_mutex;
    std::vector<std::shared_ptr<LatestPicture>> streams;
    std::vector<HlsPlaylist> playlists;  // under streams_mutex too
    std::map<const LatestPicture*, std::shared_ptr<const StreamActivity>> activities;  // under streams_mutex too

    // Owned by the loop thread.
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
    std::map<std::string, int> per_peer;
    std::uint64_t next_id = 2;  // 0: the listening socket, 1: the wakeup
    int viewers = 0;
    Steady::time_point accept_paused_until{};
    bool accept_paused = false;
    std::array<std::uint64_t, static_cast<std::size_t>(Refusal::count)> refused{};
    std::uint64_t refused_logged = 0;
    Steady::time_point refusals_logged_at{};
    Steady::time_point next_status_check{};
    struct StatusShown {
        std::string key;  // state and since
        std::string jpeg;
        Steady::time_point at;  // last published
    };
    std::map<const LatestPicture*, StatusShown> status_shown;  // per stream: the status picture it shows
    bool status_picture_failed = false;                        // logged once

    static constexpr std::uint64_t kListenId = 0;
    static constexpr std::uint64_t kWakeId = 1;

    ~Impl() {
        if (listen_fd >= 0) ::close(listen_fd);
        if (epoll_fd >= 0) ::close(epoll_fd);
    }

    // ---- setup --------------------------------------------------------------------------------------------------

    void bind_and_listen() {
        const Resolved resolved(settings.host, std::to_string(settings.port), AI_PASSIVE);
        int last_error = 0;
        for (const addrinfo* a = resolved.list; a != nullptr; a = a->ai_next) {
            const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) {
                last_error = errno;
                continue;
            }
            const int on = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
            if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
                last_error = errno;
                ::close(fd);
                continue;
            }
            sockaddr_storage bound{};
            socklen_t length = sizeof bound;
            getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
            port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                                     : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
            listen_fd = fd;
            break;
        }
        if (listen_fd < 0)
            throw Error(fmt::format("live view: cannot listen on {}: {} (is another program using the port? choose "
                                    "another with listen: host:port)",
                                    address, errno_text(last_error)));
        epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd < 0) throw Error(fmt::format("live view: cannot create an epoll set: {}", errno_text(errno)));
        watch(listen_fd, kListenId, EPOLLIN, EPOLL_CTL_ADD);
        watch(wakeup->fd(), kWakeId, EPOLLIN, EPOLL_CTL_ADD);
    }

    void watch(int fd, std::uint64_t id, std::uint32_t events, int operation) const {
        epoll_event event{};
        event.events = events;
        event.data.u64 = id;
        if (epoll_ctl(epoll_fd, operation, fd, &event) != 0 && operation != EPOLL_CTL_DEL)
            throw Error(fmt::format("live view: epoll_ctl failed: {}", errno_text(errno)));
    }

    // ---- the loop -------------------------------------------------------------------------------------------------

    void run() {
        try {
            std::array<epoll_event, 128> events{};
            while (!stopping.load()) {
                const Steady::time_point now = Steady::now();
                expire(now);
                resume_accepting(now);
                log_refusals(now);
                if (now >= next_status_check) {
                    refresh_status_pictures();
                    next_status_check = now + kStatusCheck;
                }
                const int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), wait_ms(now));
                if (n < 0) {
                    if (errno == EINTR) continue;
                    throw Error(fmt::format("epoll_wait failed: {}", errno_text(errno)));
                }
                for (int i = 0; i < n && !stopping.load(); ++i) {
                    const std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
                    if (id == kListenId) accept_all();
                    else if (id == kWakeId) {
                        wakeup->drain();
                        pictures_changed();
                    } else if (const auto it = connections.find(id); it != connections.end())
                        on_ready(*it->second, events[static_cast<std::size_t>(i)].events);
                }
            }
        } catch (const std::exception& e) {
            spdlog::error("live view: stopped serving {} after an internal error: {}", address, e.what());
        }
        while (!connections.empty()) close_connection(*connections.begin()->second, false);
    }

    [[nodiscard]] int wait_ms(Steady::time_point now) const {
        Steady::time_point next = Steady::time_point::max();
        for (const auto& [id, c] : connections) next = std::min(next, c->deadline);
        if (accept_paused) next = std::min(next, accept_paused_until);
        next = std::min(next, next_status_check);
        if (refused_total() != refused_logged) next = std::min(next, refusals_logged_at + kRefusalLogInterval);
        if (next == Steady::time_point::max()) return -1;
        if (next <= now) return 0;
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
        return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
    }

    void expire(Steady::time_point now) {
        std::vector<std::uint64_t> due;
        for (const auto& [id, c] : connections)
            if (c->deadline <= now) due.push_back(id);
        for (const std::uint64_t id : due) {
            const auto it = connections.find(id);
            if (it == connections.end()) continue;
            Connection& c = *it->second;
            switch (c.state) {
                case State::head:
                    refuse(Refusal::request_timeout);
                    answer(c, text_reply(408, fmt::format("the request did not arrive within {} ms\n",
                                                          settings.request_timeout.count())));
                    break;
                case State::waiting: finish_snapshot(c); break;
                case State::answering:
                case State::streaming:
                    refuse(Refusal::write_timeout);
                    close_connection(c, true);
                    break;
                case State::draining: close_connection(c, false); break;
            }
        }
    }

    // ---- accepting ------------------------------------------------------------------------------------------------

    void accept_all() {
        while (!stopping.load()) {
            sockaddr_storage from{};
            socklen_t length = sizeof from;
            const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&from), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    // Out of descriptors: the pending connections wait in the backlog until some close.
                    if (!accept_paused) spdlog::warn("live view: cannot accept more connections: {}", errno_text(errno));
                    accept_paused = true;
                    accept_paused_until = Steady::now() + kAcceptPause;
                    watch(listen_fd, kListenId, 0, EPOLL_CTL_MOD);
                }
                return;  // EAGAIN: none left
            }
            admit(fd, peer_of(from));
        }
    }

    void resume_accepting(Steady::time_point now) {
        if (!accept_paused || now < accept_paused_until) return;
        accept_paused = false;
        watch(listen_fd, kListenId, EPOLLIN, EPOLL_CTL_MOD);
    }

    /// Refuses at once: a short answer into the empty send buffer, and close.
    void refuse_at_accept(int fd, Refusal why, const std::string& text) {
        refuse(why);
        const std::string answer = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                               "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                                               why == Refusal::client_limit ? 429 : 503,
                                               http::reason_phrase(why == Refusal::client_limit ? 429 : 503),
                                               text.size(), text);
        (void)!send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
    }

    void admit(int fd, const std::string& peer) {
        if (const auto it = per_peer.find(peer); it != per_peer.end() && it->second >= settings.max_per_client) {
            refuse_at_accept(fd, Refusal::client_limit,
                             fmt::format("too many connections from {} (at most {} at once)\n", peer,
                                         settings.max_per_client));
            return;
        }
        if (static_cast<int>(connections.size()) >= settings.max_connections && !evict_oldest_head()) {
            refuse_at_accept(fd, Refusal::server_full,
                             fmt::format("the live view is serving its most connections ({})\n",
                                         settings.max_connections));
            return;
        }
        ++per_peer[peer];
        auto connection = std::make_unique<Connection>();
        Connection& c = *connection;
        c.id = next_id++;
        c.fd = fd;
        c.peer = peer;
        c.accepted = Steady::now();
        c.deadline = c.accepted + settings.request_timeout;
        connections.emplace(c.id, std::move(connection));
        watch(fd, c.id, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }

    /// Closes the connection that has been sending its request head the longest; false when none is.
    bool evict_oldest_head() {
        Connection* oldest = nullptr;
        for (const auto& [id, c] : connections)
            if (c->state == State::head && (oldest == nullptr || c->accepted < oldest->accepted)) oldest = c.get();
        if (oldest == nullptr) return false;
        refuse(Refusal::server_full);
        close_connection(*oldest, false);
        return true;
    }

    void close_connection(Connection& c, bool dropped) {
        if (c.viewer) {
            c.stream->viewer_left(dropped);
            --viewers;
        }
        if (c.state == State::waiting) c.stream->snapshot_waiting(-1);
        ::close(c.fd);  // also takes it out of the epoll set
        if (const auto it = per_peer.find(c.peer); it != per_peer.end() && --it->second <= 0) per_peer.erase(it);
        connections.erase(c.id);  // c is gone from here on
    }

    void refuse(Refusal why) { ++refused[static_cast<std::size_t>(why)]; }
    [[nodiscard]] std::uint64_t refused_total() const {
        std::uint64_t total = 0;
        for (const std::uint64_t n : refused) total += n;
        return total;
    }

    void log_refusals(Steady::time_point now) {
        const std::uint64_t total = refused_total();
        if (total == refused_logged || now < refusals_logged_at + kRefusalLogInterval) return;
        std::string parts;
        for (std::size_t i = 0; i < refused.size(); ++i)
            if (refused[i] > 0) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", kRefusalNames[i], refused[i]);
        spdlog::warn("live view: {} connection(s) refused or cut by its limits since the start ({}); limits: request "
                     "within {} ms and {} bytes, {} connections per client, {} viewers, each write within {} ms",
                     total, parts, settings.request_timeout.count(), settings.max_request_bytes,
                     settings.max_per_client, settings.max_viewers, settings.write_timeout.count());
        refused_logged = total;
        refusals_logged_at = now;
    }

    // ---- reading and writing --------------------------------------------------------------------------------------

    void on_ready(Connection& c, std::uint32_t events) {
        const std::uint64_t id = c.id;
        if ((events & (EPOLLHUP | EPOLLERR)) != 0) {  // both ways shut, or reset: nothing more can be delivered
            close_connection(c, c.state == State::streaming);
            return;
        }
        if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) {
            on_readable(c);
            if (!connections.contains(id)) return;
        }
        if ((events & EPOLLOUT) != 0 && c.writing) write_some(c);
    }

    void on_readable(Connection& c) {
        char chunk[4096];
        for (;;) {
            const std::size_t room = c.state == State::head ? settings.max_request_bytes + 1 - c.in.size() : sizeof chunk;
            const ssize_t n = recv(c.fd, chunk, std::min(room, sizeof chunk), 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                close_connection(c, true);
                return;
            }
            if (n == 0) {
                if (c.state == State::answering || c.state == State::waiting) {  // shut its side; still reads
                    c.reading = false;
                    update_interest(c);
                } else {
                    close_connection(c, c.state == State::streaming);
                }
                return;
            }
            if (c.state != State::head) continue;  // anything sent after the head is read and dropped
            c.in.append(chunk, static_cast<std::size_t>(n));
            const std::size_t length = http::head_length(c.in);
            if (length != std::string::npos && length <= settings.max_request_bytes) {
                dispatch(c, std::string_view(c.in).substr(0, length));
                return;
            }
            if (c.in.size() > settings.max_request_bytes) {
                refuse(Refusal::request_too_large);
                answer(c, text_reply(431, fmt::format("the request head is larger than {} bytes\n",
                                                      settings.max_request_bytes)));
                return;
            }
        }
    }

    void update_interest(Connection& c) const {
        std::uint32_t events = 0;
        if (c.reading) events |= EPOLLIN | EPOLLRDHUP;
        if (c.writing) events |= EPOLLOUT;
        watch(c.fd, c.id, events, EPOLL_CTL_MOD);
    }

    /// Starts writing head + body + tail, with a deadline of write_timeout for all of it.
    void start_output(Connection& c, std::string head, std::shared_ptr<const std::string> body, std::string tail) {
        c.out_head = std::move(head);
        c.out_body = std::move(body);
        c.out_tail = std::move(tail);
        c.sent = 0;
        c.writing = true;
        c.deadline = Steady::now() + settings.write_timeout;
        update_interest(c);
        write_some(c);
    }

    void write_some(Connection& c) {
        const std::size_t body_size = c.out_body ? c.out_body->size() : 0;
        const std::size_t total = c.out_head.size() + body_size + c.out_tail.size();
        while (c.sent < total) {
            std::array<iovec, 3> parts{};
            int count = 0;
            std::size_t skip = c.sent;
            const auto add = [&](const char* data, std::size_t size) {
                if (skip >= size) {
                    skip -= size;
                    return;
                }
                parts[static_cast<std::size_t>(count++)] = {const_cast<char*>(data + skip), size - skip};
                skip = 0;
            };
            add(c.out_head.data(), c.out_head.size());
            if (c.out_body) add(c.out_body->data(), body_size);
            add(c.out_tail.data(), c.out_tail.size());
            msghdr message{};
            message.msg_iov = parts.data();
            message.msg_iovlen = static_cast<std::size_t>(count);
            const ssize_t n = sendmsg(c.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT calls again
                close_connection(c, true);                             // gone
                return;
            }
            c.sent += static_cast<std::size_t>(n);
        }
        c.writing = false;
        c.out_body.reset();
        if (c.state == State::streaming) {
            if (c.part_number != 0) {
                c.stream->parts_sent(1, c.last == 0 ? 0 : c.part_number - c.last - 1);
                c.last = c.part_number;
            }
            c.deadline = Steady::time_point::max();
            update_interest(c);
            next_part(c);
        } else {
            drain(c);
        }
    }

    /// The answer is out: shut the write side and read until the client closes, so that closing never resets a
    /// connection whose answer the client has not read yet.
    void drain(Connection& c) {
        shutdown(c.fd, SHUT_WR);
        c.state = State::draining;
        c.reading = true;
        c.deadline = Steady::now() + std::min<std::chrono::milliseconds>(kDrainTime, settings.write_timeout);
        update_interest(c);
    }

    void answer(Connection& c, const Reply& reply) {
        c.state = State::answering;
        c.in.clear();
        c.in.shrink_to_fit();
        const std::size_t length = reply.body ? reply.body->size() : 0;
        std::string head = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}"
                                       "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
                                       reply.status, http::reason_phrase(reply.status), reply.content_type, length,
                                       reply.headers);
        start_output(c, std::move(head), c.head_only ? nullptr : reply.body, {});
    }

    // ---- streams ---------------------------------------------------------------------------------------------------

    /// Wakes viewers with a newer picture (or a closed stream) and snapshots waiting for one.
    void pictures_changed() {
        std::vector<std::uint64_t> ids;
        for (const auto& [id, c] : connections)
            if ((c->state == State::streaming && !c->writing) || c->state == State::waiting) ids.push_back(id);
        for (const std::uint64_t id : ids) {
            const auto it = connections.find(id);
            if (it == connections.end()) continue;
            Connection& c = *it->second;
            if (c.state == State::streaming) next_part(c);
            else if (c.stream->closed() || c.stream->latest().number > c.last) finish_snapshot(c);
        }
    }

    void next_part(Connection& c) {
        const LatestPicture::Picture picture = c.stream->latest();
        if (picture.jpeg && picture.number > c.last) {
            c.part_number = picture.number;
            // Each part ends with the next boundary: a browser shows a part only once it sees a boundary after it, so
            // a stream that sends one picture and then none for a while (a status picture) is shown at once.
            std::string head =
                fmt::format("Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", picture.jpeg->size());
            start_output(c, std::move(head), picture.jpeg, fmt::format("\r\n--{}\r\n", kBoundary));
        } else if (c.stream->closed()) {
            c.stream->viewer_left(false);
            c.viewer = false;
            --viewers;
            drain(c);
        }
    }

    void finish_snapshot(Connection& c) {
        c.stream->snapshot_waiting(-1);
        const StreamState state = refresh_status_picture(c.stream, /*now=*/true);
        const LatestPicture::Picture picture = c.stream->latest();
        c.state = State::answering;
        if (!picture.jpeg) {
            answer(c, text_reply(503, "no picture yet: no frame has reached the live_view stage\n"));
            return;
        }
        Reply reply;
        reply.content_type = "image/jpeg";
        reply.headers = "Cache-Control: no-cache, no-store, must-revalidate\r\n";
        if (picture.status) reply.headers += fmt::format("X-Stream-State: {}\r\n", state_name(state));
        reply.body = picture.jpeg;
        answer(c, reply);
    }

    // ---- stream status ---------------------------------------------------------------------------------------------

    [[nodiscard]] std::shared_ptr<const RunReport> latest_report() const {
        const LiveReport* live = report.load();
        return live != nullptr ? live->latest() : nullptr;
    }

    /// The stream as stream_status() sees it. Takes streams_mutex.
    [[nodiscard]] StreamView view_of(const std::shared_ptr<LatestPicture>& stream) const {
        StreamView view;
        view.name = stream->name();
        const LatestPicture::Picture picture = stream->latest();
        view.has_picture = picture.jpeg && !picture.status;
        const std::lock_guard lock(streams_mutex);
        if (const auto it = activities.find(stream.get()); it != activities.end()) view.activity = it->second;
        return view;
    }

    [[nodiscard]] StreamStatus status_of(const std::shared_ptr<LatestPicture>& stream) const {
        const auto latest = latest_report();
        return stream_status(view_of(stream), latest.get());
    }

    /// GET /status.json: every stream's status, in page order.
    [[nodiscard]] std::string status() const {
        std::vector<std::shared_ptr<LatestPicture>> current;
        {
            const std::lock_guard lock(streams_mutex);
            current = streams;
        }
        std::vector<StreamView> views;
        for (const auto& stream : current) views.push_back(view_of(stream));
        const auto latest = latest_report();
        return status_json(views, latest.get());
    }

    /// Publishes the stream's status picture when it has no live one and does not show this status yet; returns its
    /// state. Streams without an activity get none; a stream waiting for its first frame only after kWaitingGrace on
    /// its clock, unless `now` (a snapshot about to answer). A picture that cannot be made is logged (once) and skipped.
    StreamState refresh_status_picture(const std::shared_ptr<LatestPicture>& stream, bool now = false) {
        const StreamView view = view_of(stream);
        const auto latest = latest_report();
        const StreamStatus status = stream_status(view, latest.get());
        if (!view.activity || status.state == StreamState::live || stream->closed()) {
            status_shown.erase(stream.get());
            return status.state;
        }
        if (status.state == StreamState::waiting && !now && status.since &&
            view.activity->clock().now() - *status.since < kWaitingGrace)
            return status.state;
        const std::string key =
            fmt::format("{}@{}", state_name(status.state), status.since ? status.since->time_since_epoch().count() : 0);
        const Steady::time_point now_steady = Steady::now();
        if (const auto shown = status_shown.find(stream.get());
            shown != status_shown.end() && shown->second.key == key && stream->latest().status) {
            if (now_steady - shown->second.at >= kStatusRepeat) {
                stream->publish(shown->second.jpeg, true);
                shown->second.at = now_steady;
            }
            return status.state;
        }
        try {
            std::string jpeg = status_picture(stream->name(), status, view.activity->clock(), status.seen.size);
            stream->publish(jpeg, true);
            status_shown[stream.get()] = {key, std::move(jpeg), now_steady};
        } catch (const std::exception& e) {
            if (!status_picture_failed) spdlog::warn("live view: {}", e.what());
            status_picture_failed = true;
        }
        return status.state;
    }

    void refresh_status_pictures() {
        std::vector<std::shared_ptr<LatestPicture>> current;
        {
            const std::lock_guard lock(streams_mutex);
            current = streams;
        }
        std::erase_if(status_shown, [&](const auto& entry) {
            return std::none_of(current.begin(), current.end(), [&](const auto& s) { return s.get() == entry.first; });
        });
        for (const auto& stream : current) (void)refresh_status_picture(stream);
    }

    // ---- routes ----------------------------------------------------------------------------------------------------

    /// Whether the request carries the token (always true without one); remembers a ?token= for the page's links.
    bool authorized(const http::Request& request, Connection& c) const {
        if (settings.token.empty()) return true;
        bool ok = false;
        if (const std::string* given = request.param("token");
            given != nullptr && http::same_secret(*given, settings.token)) {
            c.query_token = *given;
            ok = true;
        }
        if (const std::string* header = request.header("authorization"); header != nullptr && !ok) {
            const std::size_t space = header->find(' ');
            const std::string scheme = header->substr(0, space);
            const std::string credentials = space == std::string::npos ? "" : header->substr(space + 1);
            if (strcasecmp(scheme.c_str(), "Bearer") == 0) {
                ok = http::same_secret(credentials, settings.token);
            } else if (strcasecmp(scheme.c_str(), "Basic") == 0) {
                const std::optional<std::string> decoded = http::base64_decoded(credentials);
                const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
                ok = colon != std::string::npos && http::same_secret(decoded->substr(colon + 1), settings.token);
            }
        }
        return ok;
    }

    void dispatch(Connection& c, std::string_view head) {
        const std::optional<http::Request> parsed = http::parse_request_head(head);
        if (!parsed) {
            refuse(Refusal::bad_request);
            answer(c, text_reply(400, "not an HTTP/1.1 request\n"));
            return;
        }
        const http::Request& request = *parsed;
        c.head_only = request.method == "HEAD";
        if (request.method != "GET" && request.method != "HEAD") {
            Reply reply = text_reply(405, fmt::format("{} is not served here: only GET and HEAD\n", request.method));
            reply.headers = "Allow: GET, HEAD\r\n";
            answer(c, reply);
            return;
        }
        if (!authorized(request, c)) {
            refuse(Refusal::unauthorized);
            Reply reply = text_reply(401, "this live view needs its token: add ?token=TOKEN to the address, or send "
                                          "'Authorization: Bearer TOKEN'\n");
            reply.headers = "WWW-Authenticate: Basic realm=\"framepipe live view\", charset=\"UTF-8\"\r\n";
            answer(c, reply);
            return;
        }
        if (const std::string* host = request.header("host"); host != nullptr && settings.token.empty() &&
                                                              !loopback_name(*host)) {
            refuse(Refusal::foreign_host);
            answer(c, text_reply(403, fmt::format("Host '{}' does not name this machine: without a token the live view "
                                                  "answers only to localhost, 127.0.0.1 and [::1] (a page elsewhere "
                                                  "must not read it through DNS rebinding); set a token to serve "
                                                  "other names\n",
                                                  *host)));
            return;
        }
        const std::string& path = request.path;
        if (path == "/" || path == "/index.html") {
            Reply reply;
            reply.content_type = "text/html; charset=utf-8";
            reply.body = std::make_shared<const std::string>(index_page(c.query_token));
            answer(c, reply);
        } else if (path == "/stream.mjpg") {
            serve_stream(c, request);
        } else if (path == "/snapshot.jpg") {
            serve_snapshot(c, request);
        } else if (path == "/stats.json") {
            serve_stats(c);
        } else if (path == "/status.json") {
            Reply reply;
            reply.content_type = "application/json";
            reply.headers = "Cache-Control: no-cache\r\n";
            reply.body = std::make_shared<const std::string>(status());
            answer(c, reply);
        } else if (path.starts_with("/hls/")) {
            serve_hls(c, std::string_view(path).substr(5));
        } else if (path == "/metrics") {
            Reply reply;
            reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
            reply.body = std::make_shared<const std::string>(metrics());
            answer(c, reply);
        } else {
            answer(c, text_reply(404,
                                 "no such page: see / (and /stream.mjpg, /snapshot.jpg, /status.json, "
                                 "/stats.json, /metrics, /hls/)\n"));
        }
    }

    /// The stream named by ?name= (the first without it), or null after answering 404.
    std::shared_ptr<LatestPicture> find(Connection& c, const http::Request& request) {
        std::string missing;
        {
            const std::lock_guard lock(streams_mutex);
            if (streams.empty()) {
                missing = "no stream: the pipeline has not opened a live_view stage (yet)\n";
            } else {
                const std::string* name = request.param("name");
                if (name == nullptr) return streams.front();
                for (const auto& stream : streams)
                    if (stream->name() == *name) return stream;
                std::vector<std::string> names;
                for (const auto& stream : streams) names.push_back(stream->name());
                missing = fmt::format("no stream named '{}'; streams: {}\n", *name, fmt::join(names, ", "));
            }
        }
        answer(c, text_reply(404, std::move(missing)));
        return nullptr;
    }

    void serve_stream(Connection& c, const http::Request& request) {
        std::shared_ptr<LatestPicture> stream = find(c, request);
        if (!stream) return;
        std::string head = fmt::format("HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={}\r\n"
                                       "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n"
                                       "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
                                       kBoundary);
        if (c.head_only) {
            c.state = State::answering;
            start_output(c, std::move(head), nullptr, {});
            return;
        }
        if (viewers >= settings.max_viewers) {
            refuse(Refusal::viewer_limit);
            answer(c, text_reply(503, fmt::format("too many viewers (at most {})\n", settings.max_viewers)));
            return;
        }
        c.state = State::streaming;
        c.stream = std::move(stream);
        c.viewer = true;
        ++viewers;
        c.stream->viewer_joined();
        c.part_number = 0;
        c.in.clear();
        c.in.shrink_to_fit();
        start_output(c, head + fmt::format("--{}\r\n", kBoundary), nullptr, {});  // the first part's boundary
    }

    void serve_snapshot(Connection& c, const http::Request& request) {
        std::shared_ptr<LatestPicture> stream = find(c, request);
        if (!stream) return;
        c.stream = std::move(stream);
        c.stream->snapshot_waiting(+1);  // the stage encodes its next frame for us
        if (c.stream->closed() || status_of(c.stream).state == StreamState::lost) {  // no frame is coming
            finish_snapshot(c);
            return;
        }
        c.state = State::waiting;
        c.last = c.stream->latest().number;
        c.deadline = Steady::now() + kSnapshotWait;
    }

    /// GET /hls/<name>: a configured playlist, or one of its segments, read from the playlist's folder; else 404. The
    /// name is percent-decoded first, so %2e%2e and %2f are judged as the ".." and "/" they stand for. (Reading the
    /// file happens on the loop thread: a playlist or a segment of a few seconds, from a local disk.)
    void serve_hls(Connection& c, std::string_view encoded) {
        const std::string name = http::url_decoded(encoded, false);
        std::optional<HlsPlaylist> found;
        bool is_playlist = false;
        if (plain_file_name(name)) {
            const std::lock_guard lock(streams_mutex);
            for (const HlsPlaylist& playlist : playlists) {
                if (name == playlist.name) is_playlist = true;
                if (is_playlist || is_segment_of(name, playlist.stem)) {
                    found = playlist;
                    break;
                }
            }
        }
        if (!found) {
            answer(c, text_reply(404, "no such HLS file: /hls/ serves the playlists of this view's streams (see the "
                                      "page) and their segments, nothing else\n"));
            return;
        }
        std::optional<std::string> data = read_whole_file(found->dir / name);
        if (!data) {
            const int error = errno;
            if (error == ENOENT && is_playlist) {
                Reply reply = text_reply(
                    503, fmt::format("the HLS playlist {} is not written yet: its stream_out stage writes it once the "
                                     "first segment is complete (a keyframe and hls_time of video); try again soon\n",
                                     name));
                reply.headers = fmt::format("Retry-After: {}\r\nCache-Control: no-cache\r\n", kHlsRetryAfter);
                answer(c, reply);
            } else if (error == ENOENT || error == EINVAL || error == ELOOP) {
                answer(c, text_reply(404, "no such HLS segment (segments older than the playlist's are deleted)\n"));
            } else {
                spdlog::warn("live view: cannot read {}: {}", (found->dir / name).string(), errno_text(error));
                answer(c, text_reply(500, "the HLS file cannot be read (see the run's log)\n"));
            }
            return;
        }
        Reply reply;
        if (is_playlist) {
            reply.content_type = "application/vnd.apple.mpegurl";
            if (!c.query_token.empty()) *data = with_token_on_uris(*data, c.query_token);
        } else {
            reply.content_type = "video/mp2t";
        }
        // Segment names start again at _000000 with every run: a cached one may be another run's.
        reply.headers = "Cache-Control: no-cache\r\n";
        reply.body = std::make_shared<const std::string>(std::move(*data));
        answer(c, reply);
    }

    void serve_stats(Connection& c) {
        const LiveReport* live = report.load();
        const auto latest = live != nullptr ? live->latest() : nullptr;
        if (!latest) {
            Reply reply = text_reply(503, "{\"error\": \"the run has not started\"}\n");
            reply.content_type = "application/json";
            answer(c, reply);
            return;
        }
        Reply reply;
        reply.content_type = "application/json";
        reply.headers = "Cache-Control: no-cache\r\n";
        reply.body = std::make_shared<const std::string>(report_to_json(*latest));
        answer(c, reply);
    }

    [[nodiscard]] std::string metrics() const {
        std::string text;
        if (const LiveReport* live = report.load())
            if (const auto latest = live->latest()) text = report_to_prometheus(*latest);
        struct Family {
            const char* name;
            const char* type;
            const char* help;
            double (*value)(const LatestPicture::Counters&);
        };
        static const Family families[] = {
            {"framepipe_live_view_viewers", "gauge", "Viewers connected to the stream now.",
             [](const LatestPicture::Counters& c) { return double(c.viewers); }},
            {"framepipe_live_view_pictures_total", "counter", "Pictures encoded for viewers.",
             [](const LatestPicture::Counters& c) { return double(c.published); }},
            {"framepipe_live_view_parts_sent_total", "counter", "Pictures written to viewers (all viewers).",
             [](const LatestPicture::Counters& c) { return double(c.sent); }},
            {"framepipe_live_view_pictures_skipped_total", "counter", "Pictures viewers skipped: they were not ready.",
             [](const LatestPicture::Counters& c) { return double(c.skipped); }},
            {"framepipe_live_view_viewers_dropped_total", "counter",
             "Viewers disconnected: gone, or not reading within the write timeout.",
             [](const LatestPicture::Counters& c) { return double(c.viewers_dropped); }},
        };
        {
            const std::lock_guard lock(streams_mutex);
            for (const Family& f : families) {
                text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
                for (const auto& stream : streams)
                    text += fmt::format("{}{{stream=\"{}\"}} {}\n", f.name, prometheus_label_value(stream->name()),
                                        f.value(stream->counters()));
            }
        }
        text += "# HELP framepipe_live_view_connections Connections open to the live view now.\n"
                "# TYPE framepipe_live_view_connections gauge\n";
        text += fmt::format("framepipe_live_view_connections {}\n", connections.size());
        text += "# HELP framepipe_live_view_connections_refused_total Connections the live view refused or cut, by "
                "reason.\n# TYPE framepipe_live_view_connections_refused_total counter\n";
        for (std::size_t i = 0; i < refused.size(); ++i)
            text += fmt::format("framepipe_live_view_connections_refused_total{{reason=\"{}\"}} {}\n", kRefusalNames[i],
                                refused[i]);
        return text;
    }

    [[nodiscard]] std::string index_page(const std::string& token) const {
        const std::string with_token = token.empty() ? "" : "&amp;token=" + http::url_encoded(token);
        const std::string only_token = token.empty() ? "" : "?token=" + http::url_encoded(token);
        std::string cards;
        bool any_hls = false;
        {
            const std::lock_guard lock(streams_mutex);
            for (const auto& stream : streams) {
                const std::string q = http::url_encoded(stream->name()) + with_token;
                const auto playlist = std::find_if(playlists.begin(), playlists.end(),
                                                   [&](const HlsPlaylist& p) { return p.stream == stream->name(); });
                std::string video, link;
                if (playlist != playlists.end()) {
                    any_hls = true;
                    const std::string src = "hls/" + http::url_encoded(playlist->name) + only_token;
                    video = fmt::format("<video controls muted autoplay playsinline src=\"{}\" title=\"{} (H.264, "
                                        "HLS)\"></video>",
                                        src, html_escaped(stream->name()));
                    link = fmt::format(" · <a href=\"{}\">HLS</a>", src);
                }
                cards += fmt::format(
                    "<figure data-stream=\"{1}\">{2}<img src=\"/stream.mjpg?name={0}\" "
                    "data-src=\"/stream.mjpg?name={0}\" alt=\"{1}\" onerror=\"fallback(this)\"><figcaption>{1} · "
                    "<a href=\"/snapshot.jpg?name={0}\">snapshot</a>{3}<div class=\"status\"><span class=\"state\">"
                    "</span><br><span class=\"figures\"></span></div></figcaption></figure>\n",
                    q, html_escaped(stream->name()), video, link);
            }
        }
        if (cards.empty()) cards = "<p>No stream yet.</p>";
        if (any_hls)  // a browser that cannot play HLS itself drops the video and keeps the MJPEG picture
            cards += "<p class=\"note\">Video: the camera's own H.264 over HLS, beside the MJPEG picture, in browsers "
                     "that play HLS natively (Safari, iOS, Android, recent Chrome and Edge); other browsers show the "
                     "MJPEG picture only.</p><script>for(const v of document.querySelectorAll('video'))"
                     "if(!v.canPlayType('application/vnd.apple.mpegurl'))v.remove();</script>";
        return fmt::format(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">"
            "<title>framepipe live view</title><style>"
            "body{{font:14px sans-serif;margin:1em;background:#111;color:#ddd}}a{{color:#8cf}}"
            "figure{{display:inline-block;margin:0 1em 1em 0;vertical-align:top}}img,video{{max-width:48vw;"
            "background:#000;vertical-align:top;margin-right:.5em}}.note{{color:#999}}.status{{margin-top:.3em}}"
            ".state{{font-weight:bold}}.state.live{{color:#6c6}}.state.lost{{color:#f66}}"
            ".state.reconnecting{{color:#fc6}}.state.waiting{{color:#aaa}}.figures{{color:#aaa}}</style>"
            "<script>const statusUrl='/status.json{1}';{2}</script></head><body><h1>framepipe live view</h1>{0}"
            "<p><a href=\"/status.json{1}\">status.json</a> · <a href=\"/stats.json{1}\">stats.json</a> · <a href=\"/metrics{1}\">metrics</a></p></body></html>\n",
            cards, only_token, kPageScript);
    }
};

namespace {
std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<LiveViewServer>>& registry() {
    static std::map<std::string, std::weak_ptr<LiveViewServer>> servers;
    return servers;
}
}  // namespace

bool LiveViewServer::is_loopback(const std::string& host) {
    const Resolved resolved(host, "", 0);
    for (const addrinfo* a = resolved.list; a != nullptr; a = a->ai_next)
        if (!loopback_address(a->ai_addr)) return false;
    return resolved.list != nullptr;
}

void LiveViewServer::check(const Settings& settings) {
    if (!is_loopback(settings.host) && settings.token.empty())
        throw ConfigError(fmt::format(
            "live_view: listen {}:{} is reachable from other machines, so it needs a token: set FRAMEPIPE_LIVE_TOKEN "
            "in the environment (or the stage's token option) to a secret, and give it to viewers as "
            "http://HOST:{}/?token=SECRET or 'Authorization: Bearer SECRET'; or listen on 127.0.0.1",
            settings.host, settings.port, settings.port));
    if (settings.max_viewers < 1 || settings.max_per_client < 1 || settings.max_request_bytes < 64 ||
        settings.max_connections <= settings.max_viewers || settings.request_timeout.count() <= 0 ||
        settings.write_timeout.count() <= 0)
        throw ConfigError(fmt::format("live_view: limits out of range (max_viewers {}, max_per_client {}, "
                                      "max_connections {} must exceed max_viewers, timeouts above 0)",
                                      settings.max_viewers, settings.max_per_client, settings.max_connections));
}

std::shared_ptr<LiveViewServer> LiveViewServer::acquire(const Settings& settings, const LiveReport* report) {
    check(settings);
    const std::string address = fmt::format("{}:{}", settings.host, settings.port);
    const std::lock_guard lock(registry_mutex);
    std::shared_ptr<LiveViewServer> server;
    if (settings.port != 0) server = registry()[address].lock();
    if (!server) {
        auto impl = std::make_unique<Impl>();
        impl->settings = settings;
        impl->address = address;
        impl->bind_and_listen();
        Impl& started = *impl;
        impl->loop_thread = std::thread([&started] { started.run(); });
        server.reset(new LiveViewServer(std::move(impl)));
        if (settings.port != 0) registry()[address] = server;
        spdlog::info("live view: {}", server->url());
        if (!is_loopback(settings.host))
            spdlog::warn("live view: {} is reachable from other machines; every request must carry the token (set "
                         "from {})",
                         address, settings.token_origin.empty() ? "the settings" : settings.token_origin);
        else if (!settings.token.empty())
            spdlog::info("live view: every request must carry the token (set from {})",
                         settings.token_origin.empty() ? "the settings" : settings.token_origin);
    }
    const LiveReport* none = nullptr;
    if (report != nullptr) server->impl_->report.compare_exchange_strong(none, report);
    return server;
}

LiveViewServer::LiveViewServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LiveViewServer::~LiveViewServer() {
    {
        const std::lock_guard lock(impl_->streams_mutex);
        for (const auto& stream : impl_->streams) stream->close();
    }
    impl_->stopping.store(true);
    impl_->wakeup->notify();
    impl_->loop_thread.join();
}

std::shared_ptr<LatestPicture> LiveViewServer::add_stream(const std::string& name, const std::string& hls_playlist,
                                                          std::shared_ptr<const StreamActivity> activity) {
    namespace fs = std::filesystem;
    const std::lock_guard lock(impl_->streams_mutex);
    HlsPlaylist playlist;
    if (!hls_playlist.empty()) {
        const fs::path path(hls_playlist);
        playlist.dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
        playlist.name = path.filename().string();
        playlist.stem = path.stem().string();
        for (const HlsPlaylist& other : impl_->playlists)
            if (other.name == playlist.name)
                throw ConfigError(fmt::format(
                    "live_view: the streams '{}' and '{}' would both serve /hls/{} (hls: {} and {}); give each input "
                    "a playlist of its own, e.g. hls: live/{{input}}.m3u8 with stream_out to: live/{{input}}.m3u8",
                    other.stream, name, playlist.name, (other.dir / other.name).string(), hls_playlist));
    }
    const std::string base = name.empty() ? "stream" : name;
    std::string unique = base;
    for (int n = 2; std::any_of(impl_->streams.begin(), impl_->streams.end(),
                                [&](const auto& s) { return s->name() == unique; });
         ++n)
        unique = fmt::format("{}-{}", base, n);
    auto stream = std::make_shared<LatestPicture>(unique, [wakeup = impl_->wakeup] { wakeup->notify(); });
    impl_->streams.push_back(stream);
    if (activity) impl_->activities[stream.get()] = std::move(activity);
    if (!playlist.name.empty()) {
        playlist.stream = unique;
        impl_->playlists.push_back(std::move(playlist));
    }
    return stream;
}

void LiveViewServer::remove_stream(const std::shared_ptr<LatestPicture>& stream) {
    stream->close();
    const std::lock_guard lock(impl_->streams_mutex);
    std::erase(impl_->streams, stream);
    impl_->activities.erase(stream.get());
    std::erase_if(impl_->playlists, [&](const HlsPlaylist& p) { return p.stream == stream->name(); });
}

int LiveViewServer::port() const noexcept { return impl_->port; }
std::string LiveViewServer::url() const { return fmt::format("http://{}:{}/", impl_->settings.host, impl_->port); }

}  // namespace framepipe::live
