#pragma once
// A calendar time in the machine's time zone, for tests that set a ManualClock's wall time (set_wall).

#include <chrono>
#include <ctime>

namespace framepipe::test {

/// year-month-day hour:minute:second, local time (daylight saving as the zone has it that day).
inline std::chrono::system_clock::time_point local_time(int year, int month, int day, int hour, int minute,
                                                        int second) {
    std::tm local{};
    local.tm_year = year - 1900;
    local.tm_mon = month - 1;
    local.tm_mday = day;
    local.tm_hour = hour;
    local.tm_min = minute;
    local.tm_sec = second;
    local.tm_isdst = -1;
    return std::chrono::system_clock::from_time_t(std::mktime(&local));
}

}  // namespace framepipe::test
