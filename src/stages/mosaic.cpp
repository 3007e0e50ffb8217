// mosaic: the pictures of a join's inputs (JoinedPictures) composed into one picture, a tile per input in a grid,
// each scaled to fit its tile with its aspect ratio kept and labelled with the input's name; an input with no picture
// yet shows "no picture", one that has ended keeps its last picture, marked "ended".
#include "stage_support.hpp"

#include <framepipe/attachments/joined.hpp>
#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

namespace framepipe::stages {
namespace {

using K = OptionKind;

class Mosaic final : public Stage {
public:
    Mosaic(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .parallel = true, .renders_new_image = true}),
          columns_(static_cast<int>(o.integer("columns"))),
          width_(static_cast<int>(o.integer("width"))),
          labels_(o.boolean("labels")) {}

    Outcome process(Frame& frame) override {
        const auto* joined = frame.find<JoinedPictures>();
        if (joined == nullptr || joined->inputs.empty())
            throw ConfigError("mosaic composes the pictures of a join's inputs, and this frame comes from no join: put "
                              "it among the stages of a `join:`");
        const int n = static_cast<int>(joined->inputs.size());
        const int columns = columns_ > 0 ? std::min(columns_, n) : static_cast<int>(std::ceil(std::sqrt(n)));
        const int rows = (n + columns - 1) / columns;
        const int tile_w = std::max(2, width_ / columns / 2 * 2);
        const int tile_h = std::max(2, tile_w * 9 / 16 / 2 * 2);
        cv::Mat& out = frame.buffer(cv::Size(tile_w * columns, tile_h * rows), CV_8UC3);
        out.setTo(cv::Scalar::all(24));
        for (int i = 0; i < n; ++i) {
            const JoinedPicture& input = joined->inputs[static_cast<std::size_t>(i)];
            const cv::Rect tile((i % columns) * tile_w, (i / columns) * tile_h, tile_w, tile_h);
            std::string label = input.name;
            if (input.image.empty()) {
                label += ": no picture";
            } else {
                place(input.image, out(tile));
                if (input.ended) label += " (ended)";
            }
            if (labels_) put_label(out(tile), label);
        }
        frame.set_image(out);
        frame.format = PixelFormat::bgr;
        return Outcome::pass;
    }

private:
    // Scales `picture` into the middle of `tile`, aspect ratio kept.
    static void place(const cv::Mat& picture, cv::Mat tile) {
        const double scale = std::min(static_cast<double>(tile.cols) / picture.cols,
                                      static_cast<double>(tile.rows) / picture.rows);
        const cv::Size size(std::max(1, static_cast<int>(picture.cols * scale)),
                            std::max(1, static_cast<int>(picture.rows * scale)));
        cv::Mat target = tile(cv::Rect((tile.cols - size.width) / 2, (tile.rows - size.height) / 2, size.width,
                                       size.height));
        cv::Mat scaled;
        cv::resize(picture, scaled, size, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        if (scaled.depth() != CV_8U) scaled.convertTo(scaled, CV_8U);
        if (scaled.channels() == 1) cv::cvtColor(scaled, scaled, cv::COLOR_GRAY2BGR);
        if (scaled.channels() == 4) cv::cvtColor(scaled, scaled, cv::COLOR_BGRA2BGR);
        scaled.copyTo(target);
    }

    static void put_label(cv::Mat tile, const std::string& text) {
        const double scale = std::max(0.35, tile.rows / 400.0);
        int baseline = 0;
        const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline);
        const cv::Rect band(0, 0, std::min(tile.cols, size.width + 8), std::min(tile.rows, size.height + baseline + 8));
        tile(band).setTo(cv::Scalar::all(0));
        cv::putText(tile, text, cv::Point(4, size.height + 4), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar::all(255), 1,
                    cv::LINE_AA);
    }

    int columns_;
    int width_;
    bool labels_;
};

const bool declared_mosaic = declare_stage(
    {"mosaic", "Compose the pictures of a join's inputs into one picture (a wall of cameras)",
     "- { type: mosaic, columns: 2, width: 1280 }", {.parallel = true},
     {{"columns", K::integer, "0", "Tiles per row; 0 = as square a grid as the inputs allow", 0, 64},
      {"width", K::integer, "1280", "Width of the composed picture; tiles are 16:9", 16, 16384},
      {"labels", K::boolean, "true", "Write each input's name on its tile"}},
     factory_of<Mosaic>(), 150});

}  // namespace
}  // namespace framepipe::stages
