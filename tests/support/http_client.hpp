#pragma once
// A minimal HTTP/1.1 client over a raw loopback socket, for the live view tests: plain GETs, an MJPEG reader that
// splits multipart/x-mixed-replace into its parts, a viewer that connects and then never reads (its receive buffer
// made small so the server's writes stall soon), and a raw connection that sends what the test says when it says
// (slow request heads). Each can connect from another loopback address (127.0.0.2 ...), as another client would.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace framepipe::test {

struct HttpResponse {
    int status = 0;  // 0: no answer
    std::string content_type;
    std::string head;  // status line and headers
    std::string body;
};

struct RequestOptions {
    std::string method = "GET";
    std::vector<std::string> headers;  // extra "Name: value" lines (a "Host: ..." one replaces the default)
    std::string from;                  // the client's loopback address; empty: any
};

/// GET http://127.0.0.1:<port><path> and read the whole answer (Connection: close).
HttpResponse http_get(int port, const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
HttpResponse http_get(int port, const std::string& path, std::chrono::milliseconds timeout,
                      const RequestOptions& options);

/// A TCP connection to 127.0.0.1:<port> (from `from` when given) that sends and reads only when told to.
class RawConnection {
public:
    explicit RawConnection(int port, const std::string& from = "");
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }
    /// Sends all of `bytes`; false when the server has closed or reset the connection.
    bool send(std::string_view bytes);
    /// Reads until the server closes the connection or `limit` passes; true when it closed. What came is in received().
    bool read_until_closed(std::chrono::milliseconds limit);
    [[nodiscard]] const std::string& received() const noexcept { return received_; }
    /// The status of the answer received so far (0: none).
    [[nodiscard]] int status() const;

private:
    int fd_ = -1;
    std::string received_;
};

class MjpegReader {
public:
    /// Connects and reads the response head. status() says how the server answered.
    MjpegReader(int port, const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~MjpegReader();
    MjpegReader(const MjpegReader&) = delete;
    MjpegReader& operator=(const MjpegReader&) = delete;

    [[nodiscard]] int status() const noexcept { return status_; }
    [[nodiscard]] const std::string& content_type() const noexcept { return content_type_; }
    /// The next part's body (a JPEG), or nothing when the stream ended or nothing came within the timeout.
    std::optional<std::string> next_part();

private:
    bool fill();  // reads more into buffer_; false on end or timeout
    int fd_ = -1;
    int status_ = 0;
    std::string content_type_;
    std::string boundary_;
    std::string buffer_;
    std::chrono::milliseconds timeout_;
};

/// Connects, sends the request for `path`, and never reads: a stalled viewer. Closes when destroyed.
class StalledViewer {
public:
    StalledViewer(int port, const std::string& path);
    ~StalledViewer();
    StalledViewer(const StalledViewer&) = delete;
    StalledViewer& operator=(const StalledViewer&) = delete;

private:
    int fd_ = -1;
};

}  // namespace framepipe::test
