#pragma once
// LiveViewServer: the HTTP endpoint of the live view. One server per listen address, shared by every live_view stage
// that names that address (a pipeline with several inputs has one stage per input); each stage adds a stream.
//
//   GET /                 a page showing every stream, with links to the rest
//   GET /stream.mjpg      the first stream as MJPEG (multipart/x-mixed-replace); ?name=<stream> picks another
//   GET /snapshot.jpg     the newest picture as JPEG (?name= likewise); waits up to 2 s for one when none is recent
//   GET /stats.json       the live report (framepipe-report/1 JSON, "finished": false)
//   GET /metrics          the live report and the viewers' counters in Prometheus text format
//
// Viewers: each gets the newest picture whenever it is ready for one (it skips what it was too slow for); a viewer
// that does not accept a write within write_timeout is disconnected. Nothing a viewer does blocks the pipeline:
// stages only publish into LatestPicture. Past max_viewers, new stream requests get 503.
//
// Thread-safety: acquire() and add_stream()/remove_stream() may be called from any thread. The server stops (and its
// threads are joined) when the last shared_ptr to it goes.

#include "latest_picture.hpp"

#include <framepipe/clock.hpp>
#include <framepipe/report.hpp>

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
    };

    /// The server listening on settings' host:port, started if this process does not run one there yet (a running
    /// one keeps its first settings). `report` (may be null) supplies /stats.json and /metrics; the first non-null
    /// one is kept and must outlive the server. Throws Error when the address cannot be bound, naming it.
    static std::shared_ptr<LiveViewServer> acquire(const Settings& settings, const LiveReport* report);

    ~LiveViewServer();
    LiveViewServer(const LiveViewServer&) = delete;
    LiveViewServer& operator=(const LiveViewServer&) = delete;

    /// A new stream named `name` (made unique with -2, -3 ... if taken).
    std::shared_ptr<LatestPicture> add_stream(const std::string& name);
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
