#pragma once
// Templates for text overlays and output file names: "{input}_{frame:06}.jpg". Fields:
//   {input}  the source's name without extension     {frame}  the frame's sequence number (format specs allowed)
//   {time}   media time, 00:01:02.500 (in file names: 00-01-02.500)   {seconds}  media time in seconds, 62.500
//   {clock}  wall-clock time, 2026-11-21 07:30:05     {label}  the frame's label (an image's file name) or the input
//            (the calendar time of the run's clock when the text is rendered: Clock::wall_now())
//   {index}  a counter kept by the stage (thumbnails written so far)
// Names come in as displayable_name()s (bytes that are not UTF-8 as \xHH), so rendered file names are valid UTF-8.

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace framepipe::stages {

struct TemplateFields {
    std::string_view input;  // the source's name
    const Frame& frame;
    std::uint64_t index = 0;
    bool for_file_name = false;
    const Clock* clock = nullptr;  // for {clock}: the stage's (StageContext::clock); nullptr = the system clock
    /// When set, {clock} shows this calendar time instead of now (a contact sheet's period start).
    std::optional<std::chrono::system_clock::time_point> wall;
};

/// Calendar time now on `clock` (Clock::wall_now()); the system clock when `clock` is null.
std::chrono::system_clock::time_point wall_now(const Clock* clock);

/// Throws ConfigError naming `option` if the template has an unknown field or a bad format spec.
void validate_template(const std::string& text, std::string_view option);
std::string render_template(const std::string& text, const TemplateFields& fields);

/// "name.mp4" -> "name".
std::string stem_of(std::string_view name);

/// Longest file name most file systems take (NAME_MAX), in bytes.
inline constexpr std::size_t kNameMax = 255;
/// `name` itself when it fits in `name_max` bytes; otherwise its start, '~' and 12 hex digits of a hash of the whole
/// name, the last 32 bytes of its stem (where a frame number or time usually is) and its extension, cut at UTF-8
/// character boundaries: "<start>~1a2b3c4d5e6f<end>.jpg". Names that differ keep differing (up to the hash), and the
/// extension that picks the format is kept.
std::string fit_file_name(const std::string& name, std::size_t name_max = kNameMax);
/// True when `name` has the mark fit_file_name() puts in a shortened name: '~' and 12 hex digits.
bool looks_shortened(std::string_view name);

/// True when the template uses the field (e.g. "clock").
bool template_uses(const std::string& text, std::string_view field);
/// The literal text between the fields of a file name template, to match names it can render: {input} without a
/// format spec is filled in with the stem of `input`, every other field is a gap of any text. Has one element more
/// than there are gaps. The template must be valid (validate_template).
std::vector<std::string> template_literals(const std::string& text, std::string_view input);
/// Media time as HH:MM:SS.mmm (separator ':' or '-').
std::string format_media_time(Duration t, char separator = ':');

/// Local wall-clock time as file names carry it: "20261121-073005" (sorts by age).
std::string file_clock(std::chrono::system_clock::time_point t);
/// The local time zone's offset from UTC at `t` (east positive), as localtime_r gives it.
std::chrono::seconds utc_offset(std::chrono::system_clock::time_point t);
/// Local wall-clock time in ISO 8601 with milliseconds and the zone's offset: "2026-11-21T07:30:05.250+01:00".
std::string iso_clock(std::chrono::system_clock::time_point t);

/// The name stem of a motion event's files (snapshot, clip), from the event's first frame: "yard_event0001_00-00-03.000"
/// for a file (media time), "cam_20261121-073005_event0001" for live input, whose media time and event numbers restart
/// with every run. Every stage computes the same stem for the same frame (Clock::wall_time of its capture time: one
/// steady-to-wall offset per process for real clocks). `clock`: the stage's; nullptr = the real clock.
std::string event_file_stem(std::string_view input, std::uint64_t event, const Frame& first_frame, bool live,
                            const Clock* clock = nullptr);

}  // namespace framepipe::stages
