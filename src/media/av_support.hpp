#pragma once
// Small RAII helpers around FFmpeg's C API (libavformat, libavcodec, libswscale), used by the video sources, the decode
// stages and the encoder. Nothing outside src/media includes FFmpeg headers.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

namespace framepipe::media {

/// FFmpeg's description of an error code, e.g. "Invalid data found when processing input".
inline std::string av_error_text(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return text;
}

struct FormatContextCloser {
    void operator()(AVFormatContext* context) const noexcept { avformat_close_input(&context); }
};
struct CodecContextFreer {
    void operator()(AVCodecContext* context) const noexcept { avcodec_free_context(&context); }
};
struct FrameFreer {
    void operator()(AVFrame* frame) const noexcept { av_frame_free(&frame); }
};
struct PacketFreer {
    void operator()(AVPacket* packet) const noexcept { av_packet_free(&packet); }
};
struct ParametersFreer {
    void operator()(AVCodecParameters* parameters) const noexcept { avcodec_parameters_free(&parameters); }
};
struct SwsFreer {
    void operator()(SwsContext* context) const noexcept { sws_freeContext(context); }
};

using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextCloser>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using ParametersPtr = std::unique_ptr<AVCodecParameters, ParametersFreer>;
using SwsPtr = std::unique_ptr<SwsContext, SwsFreer>;

/// Seconds of a timestamp in a time base; 0 for AV_NOPTS_VALUE.
inline double seconds_of(std::int64_t ts, AVRational base) {
    return ts == AV_NOPTS_VALUE ? 0.0 : static_cast<double>(ts) * av_q2d(base);
}

/// The number an FFmpeg enum field holds, read as the int C stores. FFmpeg copies values such as a colour matrix from
/// the bitstream unchecked (MPEG-2 and MPEG-4 give any of 0..255), and in C++ loading an enum object whose value lies
/// outside its enumerators' range is undefined: such fields are read only through this.
template <class Enum>
int raw_value(const Enum& field) noexcept {
    static_assert(std::is_enum_v<Enum> && sizeof(Enum) == sizeof(int));
    int value = 0;
    std::memcpy(&value, &field, sizeof value);
    return value;
}

/// Quietens FFmpeg's own logging to errors only, once per process (framepipe reports problems itself).
void quiet_ffmpeg_logging();

void count_logged_error(const void* context) noexcept;

/// Counts the errors FFmpeg reports for one context (a decoder that conceals damage logs it and still returns a
/// picture: some codecs, MJPEG among them, say so nowhere else). Registered while alive; thread-safe: FFmpeg may log
/// from any thread. One per context, which must not be shared between counters.
class ErrorCounter {
public:
    explicit ErrorCounter(const void* context);
    ~ErrorCounter();
    ErrorCounter(const ErrorCounter&) = delete;
    ErrorCounter& operator=(const ErrorCounter&) = delete;
    /// Errors logged since the last call.
    [[nodiscard]] std::uint64_t take() noexcept { return count_.exchange(0); }

private:
    friend void count_logged_error(const void* context) noexcept;
    const void* context_;
    std::atomic<std::uint64_t> count_{0};
};

}  // namespace framepipe::media
