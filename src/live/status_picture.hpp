#pragma once
// The picture a live-view stream shows while it has no live one: what its status means ("SIGNAL LOST", "RECONNECTING",
// "NO SIGNAL YET"), the stream's name and since when, so a viewer never sees a broken or frozen image unexplained.

#include "stream_status.hpp"

#include <opencv2/core/types.hpp>

#include <string>

namespace framepipe::live {

/// A JPEG of `size` (its width at least 320; 640x360 when empty) for a stream in `status` (not live). `clock` gives
/// the calendar time of status.since (the stream's run clock). Throws Error when encoding fails.
[[nodiscard]] std::string status_picture(const std::string& name, const StreamStatus& status, const Clock& clock,
                                         cv::Size size);

}  // namespace framepipe::live
