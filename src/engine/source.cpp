#include <framepipe/source.hpp>
#include <framepipe/stage.hpp>

#include <condition_variable>
#include <mutex>

namespace framepipe {

bool sleep_until(std::chrono::steady_clock::time_point due, std::stop_token stop) {
    thread_local std::mutex mutex;                   // only this thread waits on them; the stop callback notifies
    thread_local std::condition_variable_any wake;  // (made once per thread: the condition variable allocates)
    std::unique_lock lock(mutex);
    wake.wait_until(lock, stop, due, [] { return false; });
    return !stop.stop_requested();
}

std::vector<std::unique_ptr<Stage>> Source::decode_stages() { return {}; }

}  // namespace framepipe
