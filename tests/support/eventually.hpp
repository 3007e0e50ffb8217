#pragma once
// Waiting for something another thread makes happen, without sleeping a fixed time: polls `condition` every 20 ms
// and gives up (false) after `limit`. The limit is a safety net against hangs, never a timing assertion.

#include <chrono>
#include <thread>

namespace framepipe::test {

template <class Condition>
bool eventually(Condition&& condition, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    for (const auto deadline = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < deadline;) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}

}  // namespace framepipe::test
