#pragma once
// LiveViewServer: the HTTP endpoint of the live view. One server per listen address, shared by every live_view stage
// that names that address (a pipeline with several inputs has one stage per input); each stage adds a stream.
//
//   GET /                 a page showing every stream, with links to the rest
//   GET /stream.mjpg      the first stream as MJPEG (multipart/x-mixed-replace); ?name=<stream> picks another
//   GET /snapshot.jpg     the newest picture as JPEG (?name= likewise); waits up to 2 s for one when none is recent
//   GET /status.json      per stream: its state (waiting, live, lost, reconnecting) and since when, frames/s, end-to-end
//                         latency (p50) and drops (stream_status.hpp); the page polls it and shows it by each picture
//   GET /stats.json       the live report (framepipe-report/3 JSON, "finished": false)
//   GET /metrics          the live report, the viewers' and the server's counters in Prometheus text format
//   GET /hls/<name>       a stream's HLS (add_stream's hls_playlist, written by a stream_out stage): the playlist by
//                         its file name (application/vnd.apple.mpegurl, no-cache; 503 with Retry-After until it
//                         exists), and its segments <playlist stem>_<digits>.ts (video/mp2t), from its folder only.
//                         Any other name (a path, '..', a leading '.', a temporary .tmp/.part file, another extension)
//                         is 404. With ?token= the playlist's segment lines carry the token on, as the page's links do.
//   (HEAD works on each; every answer closes its connection.)
//
// A stream that has no live picture (its signal is lost, it is reconnecting, or no frame has come yet) shows a status
// picture saying so, with its name and since when (status_picture.hpp): the loop checks every stream's state twice a
// second and publishes one when it changes, and the same again every second (a browser shows an MJPEG part only once
// the next one begins), so viewers get it as their next part and /snapshot.jpg answers with it (at once when the
// signal is lost, with the header X-Stream-State) instead of an error or a frozen frame. Only streams
// added with a StreamActivity (every live_view stage's) get them.
//
// Viewers: each gets the newest picture whenever it is ready for one (it skips what it was too slow for); a viewer
// that has not taken a whole picture within write_timeout of its start is disconnected. Nothing a viewer does blocks
// the pipeline: stages only publish into LatestPicture. Past max_viewers, new stream requests get 503.
//
// Transport. One thread runs an epoll loop over non-blocking sockets; no client operation ever blocks it, so a
// request is never queued behind another client, and stopping never waits on one. (cpp-httplib, used before, gives
// each connection a pool thread, restarts its read timeout with every byte, listens with a backlog of 5, and its
// stop() joins workers that are still serving: one client sending a byte a second kept a run from ever exiting, and
// 20 slow clients took the whole page away.) Every connection is bounded:
//   - its request head (request line and headers) must arrive whole within request_timeout of the connection being
//     accepted (a total, not per byte: 408) and within max_request_bytes (431);
//   - an answer, or one picture of a stream, must be taken within write_timeout, or the connection is closed;
//   - one peer address (IPv4 address, IPv6 /64) holds at most max_per_client connections at once; more are answered
//     429 and closed at accept;
//   - at max_connections the oldest connection still sending its head is closed to admit the new one, so clients
//     that stall mid-request, from however many addresses, cannot lock out a quick /metrics;
//   - viewers are at most max_viewers; past that a stream request is answered 503 while every other route goes on
//     being served, since nothing else holds a slot.
// The listen backlog is SOMAXCONN. Refusals are counted in /metrics (framepipe_live_view_connections_refused_total)
// and summarised in the log at most every 10 s.
//
// Authentication. With a token set, every request must carry it, as `Authorization: Bearer <token>`, as the password
// of HTTP basic auth (any user name; browsers ask for it), or as `?token=<token>` (for <img> tags and links; the page
// carries it over to its own links). It is compared in constant time; without it the answer is 401. A host that is not
// a loopback address needs a token: check() refuses the settings otherwise, and starting logs a warning that the view
// is reachable from other machines. The token itself is never logged or shown. Without a token (loopback), a request
// whose Host header names another machine gets 403, so a web page elsewhere cannot read the view by DNS rebinding.
//
// Thread-safety: acquire() and add_stream()/remove_stream() may be called from any thread; the loop thread owns every
// socket. The server stops when the last shared_ptr to it goes: its streams are closed, the loop is woken, closes
// every client connection wherever it is (mid-request, mid-answer, streaming) and its thread is joined, which takes
// one pass of the loop, never a client's time. Failure: an error inside the loop (not a client's doing) is logged and
// ends the serving; the pipeline goes on.

#include "latest_picture.hpp"
#include "stream_activity.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/report.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace framepipe::live {

class LiveViewServer {
public:
    struct Settings {
        std::string host = "127.0.0.1";
        int port = 8080;  // 0: any free port (see port())
        std::chrono::milliseconds write_timeout{2000};
        int max_viewers = 16;
        std::chrono::milliseconds request_timeout{5000};  // the whole request head, from accept
        std::size_t max_request_bytes = 8192;             // request line and headers
        int max_per_client = 8;                           // connections at once from one peer (IPv4 address, IPv6 /64)
        int max_connections = 512;                        // all connections (viewers included)
        std::string token;         // required on every request when not empty; never logged
        std::string token_origin;  // where the token came from, for the log ("FRAMEPIPE_LIVE_TOKEN")
    };

    /// Whether `host` (a name or address, IPv6 with or without brackets) resolves to loopback addresses only.
    /// Throws ConfigError when it does not resolve, naming it.
    [[nodiscard]] static bool is_loopback(const std::string& host);
    /// Throws ConfigError when the settings cannot be served safely: off loopback without a token (the message says
    /// how to set one), or limits that make no sense.
    static void check(const Settings& settings);

    /// The server listening on settings' host:port, started if this process does not run one there yet (a running
    /// one keeps its first settings). `report` (may be null) supplies /stats.json and /metrics; the first non-null
    /// one is kept and must outlive the server. Throws ConfigError as check() does, and Error when the address cannot
    /// be bound, naming it.
    static std::shared_ptr<LiveViewServer> acquire(const Settings& settings, const LiveReport* report);

    ~LiveViewServer();
    LiveViewServer(const LiveViewServer&) = delete;
    LiveViewServer& operator=(const LiveViewServer&) = delete;

    /// A new stream named `name` (made unique with -2, -3 ... if taken). `hls_playlist` (a path ending in .m3u8, may
    /// not exist yet) is served under /hls/ and shown on the page beside the stream; empty: none. `activity`: what
    /// the stream's stage sees, for its status (null: none, and no status pictures). Throws ConfigError when another
    /// stream serves a playlist of the same file name from another folder.
    std::shared_ptr<LatestPicture> add_stream(const std::string& name, const std::string& hls_playlist = {},
                                              std::shared_ptr<const StreamActivity> activity = nullptr);
    /// Closes the stream (its viewers finish) and takes it off the page.
    void remove_stream(const std::shared_ptr<LatestPicture>& stream);

    [[nodiscard]] int port() const noexcept;
    [[nodiscard]] std::string url() const;

private:
    struct Impl;
    explicit LiveViewServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace framepipe::live
