#pragma once
// Templates for text overlays and output file names: "{input}_{frame:06}.jpg". Fields:
//   {input}  the source's name without extension     {frame}  the frame's sequence number (format specs allowed)
//   {time}   media time, 00:01:02.500 (in file names: 00-01-02.500)   {seconds}  media time in seconds, 62.500
//   {clock}  wall-clock time, 2026-11-21 07:30:05     {label}  the frame's label (an image's file name) or the input
//   {index}  a counter kept by the stage (thumbnails written so far)

#include <framepipe/frame.hpp>

#include <string>
#include <string_view>

namespace framepipe::stages {

struct TemplateFields {
    std::string_view input;  // the source's name
    const Frame& frame;
    std::uint64_t index = 0;
    bool for_file_name = false;
};

/// Throws ConfigError naming `option` if the template has an unknown field or a bad format spec.
void validate_template(const std::string& text, std::string_view option);
std::string render_template(const std::string& text, const TemplateFields& fields);

/// "name.mp4" -> "name".
std::string stem_of(std::string_view name);
/// Media time as HH:MM:SS.mmm (separator ':' or '-').
std::string format_media_time(Duration t, char separator = ':');

}  // namespace framepipe::stages
