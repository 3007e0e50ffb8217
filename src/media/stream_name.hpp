#pragma once
// The name a stream gets when its input names none (reports, file names, the live view).

#include <string>

namespace framepipe::media {

/// Host, port and path, without scheme, credentials, query or dots, e.g. "rtsp://u:p@10.0.0.7:554/cam/main" ->
/// "10-0-0-7-554_cam_main", so two cameras' "stream1" stay apart. A URL with none of these: VideoSource::redacted(url).
std::string stream_name(const std::string& url);

}  // namespace framepipe::media
