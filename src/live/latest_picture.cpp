#include "latest_picture.hpp"

namespace framepipe::live {

void LatestPicture::publish(std::string jpeg, bool status) {
    auto picture = std::make_shared<const std::string>(std::move(jpeg));
    {
        const std::lock_guard lock(mutex_);
        latest_.jpeg = std::move(picture);
        ++latest_.number;
        latest_.status = status;
        if (status) status_pictures_.fetch_add(1);
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
    {
        const std::lock_guard lock(mutex_);
        c.published = latest_.number - status_pictures_.load();
    }
    c.sent = sent_.load();
    c.skipped = skipped_.load();
    c.viewers_dropped = viewers_dropped_.load();
    c.viewers = viewers_.load();
    return c;
}

}  // namespace framepipe::live
