#include "latest_picture.hpp"

namespace framepipe::live {

void LatestPicture::publish(std::string jpeg) {
    auto picture = std::make_shared<const std::string>(std::move(jpeg));
    {
        const std::lock_guard lock(mutex_);
        latest_.jpeg = std::move(picture);
        ++latest_.number;
    }
    changed_.notify_all();
    if (on_change_) on_change_();
}

LatestPicture::Picture LatestPicture::latest() const {
    const std::lock_guard lock(mutex_);
    return latest_;
}

LatestPicture::Picture LatestPicture::wait_newer(std::uint64_t after, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return closed_ || latest_.number > after; }) || latest_.number <= after)
        return {};
    return latest_;
}

void LatestPicture::close() {
    {
        const std::lock_guard lock(mutex_);
        closed_ = true;
    }
    changed_.notify_all();
    if (on_change_) on_change_();
}

bool LatestPicture::closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
}

LatestPicture::Counters LatestPicture::counters() const {
    Counters c;
    c.published = latest().number;
    c.sent = sent_.load();
    c.skipped = skipped_.load();
    c.viewers_dropped = viewers_dropped_.load();
    c.viewers = viewers_.load();
    return c;
}

}  // namespace framepipe::live
