#pragma once
// Templates for text overlays and output file names: "{input}_{frame:06}.jpg". Fields:
//   {input}  the source's name without extension     {frame}  the frame's sequence number (format specs allowed)
//   {time}   media time, 00:01:02.500 (in file names: 00-01-02.500)   {seconds}  media time in seconds, 62.500
//   {clock}  wall-clock time, 2026-11-21 07:30:05     {label}  the frame's label (an image's file name) or the input
//   {index}  a counter kept by the stage (thumbnails written so far)

#include <framepipe/frame.hpp>

#include <chrono>
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

/// Local wall-clock time as file names carry it: "20261121-073005" (sorts by age).
std::string file_clock(std::chrono::system_clock::time_point t);

/// The name stem of a motion event's files (snapshot, clip), from the event's first frame: "yard_event0001_00-00-03.000"
/// for a file (media time), "cam_20261121-073005_event0001" for live input, whose media time and event numbers restart
/// with every run. Every stage computes the same stem for the same frame (one steady-to-wall offset per process).
std::string event_file_stem(std::string_view input, std::uint64_t event, const Frame& first_frame, bool live);

}  // namespace framepipe::stages
