#pragma once
// Listing V4L2 cameras for `framepipe devices`: what each capture device is and which pixel formats, sizes and frame
// rates it offers, asked of the driver with V4L2 ioctls (the same questions `v4l2-ctl --list-formats-ext` asks).
// Devices that are not video capture devices (a UVC camera's metadata node, an encoder) are left out; a device that
// cannot be opened is listed with the reason, so a permissions problem is visible rather than an empty list.

#include <filesystem>
#include <string>
#include <vector>

namespace framepipe {

struct CameraMode {
    int width = 0;                 // 0 for a device that reports no discrete sizes
    int height = 0;
    std::vector<double> fps;       // discrete frame rates; empty when the driver reports none or a range
};

struct CameraFormat {
    std::string fourcc;            // "MJPG", "YUYV", ...
    std::string description;       // the driver's words, e.g. "Motion-JPEG"
    bool compressed = false;
    std::vector<CameraMode> modes;
};

struct CameraInfo {
    std::string device;            // "/dev/video0"
    std::string card;              // "HD Pro Webcam C920"
    std::string driver;            // "uvcvideo"
    std::string bus;               // "usb-0000:00:14.0-1"
    std::vector<CameraFormat> formats;
    std::string problem;           // why the device could not be asked (empty when it could)
};

/// Every /dev/video* under `dev_dir` that is a video capture device, in natural order (video2 before video10).
/// Never throws for a device it cannot use: the reason goes into CameraInfo::problem.
[[nodiscard]] std::vector<CameraInfo> list_cameras(const std::filesystem::path& dev_dir = "/dev");

}  // namespace framepipe
