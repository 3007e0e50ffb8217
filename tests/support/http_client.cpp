#include "http_client.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace framepipe::test {
namespace {

int connect_to(int port, int receive_buffer = 0, const std::string& from = "") {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    if (receive_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    if (!from.empty()) {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        if (inet_pton(AF_INET, from.c_str(), &local.sin_addr) != 1 ||
            bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            close(fd);
            throw std::runtime_error(fmt::format("cannot bind a client socket to {}", from));
        }
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void send_request(int fd, int port, const std::string& path) {
    const std::string request =
        fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", path, port);
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
        throw std::runtime_error("cannot send the request");
}

/// Reads what is there within `timeout`; false on end of stream, error or timeout.
bool read_some(int fd, std::string& into, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    into.append(chunk, static_cast<std::size_t>(n));
    return true;
}

std::string header_value(const std::string& head, const std::string& name) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string key = "\r\n" + name + ":";
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto at = lower.find(key);
    if (at == std::string::npos) return "";
    auto begin = at + key.size();
    while (begin < head.size() && head[begin] == ' ') ++begin;
    return head.substr(begin, head.find("\r\n", begin) - begin);
}

int status_of(const std::string& head) {
    const auto space = head.find(' ');
    return space == std::string::npos ? 0 : std::atoi(head.c_str() + space + 1);
}

}  // namespace

HttpResponse http_get(int port, const std::string& path, std::chrono::milliseconds timeout) {
    return http_get(port, path, timeout, RequestOptions{});
}

HttpResponse http_get(int port, const std::string& path, std::chrono::milliseconds timeout,
                      const RequestOptions& options) {
    HttpResponse response;
    const int fd = connect_to(port, 0, options.from);
    if (fd < 0) return response;
    std::string request = fmt::format("{} {} HTTP/1.1\r\nConnection: close\r\n", options.method, path);
    bool host = false;
    for (const std::string& header : options.headers) {
        request += header + "\r\n";
        host = host || header.rfind("Host:", 0) == 0;
    }
    if (!host) request += fmt::format("Host: 127.0.0.1:{}\r\n", port);
    request += "\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        close(fd);
        return response;
    }
    std::string data;
    while (read_some(fd, data, timeout)) {
    }
    close(fd);
    const auto end_of_head = data.find("\r\n\r\n");
    if (end_of_head == std::string::npos) return response;
    const std::string head = data.substr(0, end_of_head);
    response.status = status_of(head);
    response.content_type = header_value(head, "Content-Type");
    response.head = head;
    response.body = data.substr(end_of_head + 4);
    return response;
}

RawConnection::RawConnection(int port, const std::string& from) : fd_(connect_to(port, 0, from)) {}

RawConnection::~RawConnection() {
    if (fd_ >= 0) close(fd_);
}

bool RawConnection::send(std::string_view bytes) {
    if (fd_ < 0) return false;
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool RawConnection::read_until_closed(std::chrono::milliseconds limit) {
    if (fd_ < 0) return true;
    for (const auto deadline = std::chrono::steady_clock::now() + limit;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char chunk[65536];
        const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return true;  // closed (0) or reset
        received_.append(chunk, static_cast<std::size_t>(n));
    }
}

int RawConnection::status() const { return received_.rfind("HTTP/1.", 0) == 0 ? status_of(received_) : 0; }

MjpegReader::MjpegReader(int port, const std::string& path, std::chrono::milliseconds timeout) : timeout_(timeout) {
    fd_ = connect_to(port);
    if (fd_ < 0) return;
    send_request(fd_, port, path);
    while (buffer_.find("\r\n\r\n") == std::string::npos)
        if (!fill()) return;
    const auto end_of_head = buffer_.find("\r\n\r\n");
    const std::string head = buffer_.substr(0, end_of_head);
    buffer_.erase(0, end_of_head + 4);
    status_ = status_of(head);
    content_type_ = header_value(head, "Content-Type");
    const auto b = content_type_.find("boundary=");
    if (b != std::string::npos) boundary_ = "--" + content_type_.substr(b + 9);
}

MjpegReader::~MjpegReader() {
    if (fd_ >= 0) close(fd_);
}

bool MjpegReader::fill() { return read_some(fd_, buffer_, timeout_); }

std::optional<std::string> MjpegReader::next_part() {
    if (fd_ < 0 || boundary_.empty()) return std::nullopt;
    // --boundary\r\n headers \r\n\r\n body (Content-Length bytes) \r\n
    while (buffer_.find("\r\n\r\n") == std::string::npos)
        if (!fill()) return std::nullopt;
    const auto end_of_head = buffer_.find("\r\n\r\n");
    const std::string head = "\r\n" + buffer_.substr(0, end_of_head);
    if (head.find(boundary_) == std::string::npos) throw std::runtime_error("MJPEG part without its boundary");
    const std::string length_text = header_value(head, "Content-Length");
    if (length_text.empty()) throw std::runtime_error("MJPEG part without Content-Length");
    const auto length = static_cast<std::size_t>(std::stoull(length_text));
    const std::size_t body_start = end_of_head + 4;
    while (buffer_.size() < body_start + length + 2)
        if (!fill()) return std::nullopt;
    std::string body = buffer_.substr(body_start, length);
    buffer_.erase(0, body_start + length + 2);
    return body;
}

StalledViewer::StalledViewer(int port, const std::string& path) {
    fd_ = connect_to(port, /*receive_buffer=*/4096);
    if (fd_ < 0) throw std::runtime_error(fmt::format("cannot connect to 127.0.0.1:{}", port));
    send_request(fd_, port, path);
}

StalledViewer::~StalledViewer() { close(fd_); }

}  // namespace framepipe::test
