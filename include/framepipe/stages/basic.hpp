#pragma once
// The first stages: enough for the built-in demo and the engine's own tests. Each validates its options in open()
// and throws ConfigError with the option's name and the allowed range.

#include <framepipe/stage.hpp>

namespace framepipe {

/// Gaussian blur with an odd square kernel. Stateless and parallel; works in place through the frame's scratch buffer.
class GaussianBlur final : public Stage {
public:
    struct Options {
        int ksize = 5;       // odd, 1..99
        double sigma = 0;    // 0 = derived from ksize
        std::string name = "blur";
    };
    explicit GaussianBlur(Options options);
    void open(const StageContext& context) override;
    Outcome process(Frame& frame) override;

private:
    Options options_;
};

/// Resize to a width and/or height; with only one given, the other keeps the aspect ratio. Stateless and parallel.
class Resize final : public Stage {
public:
    struct Options {
        int width = 0;   // 0 = follow height
        int height = 0;  // 0 = follow width
        std::string interpolation = "area";  // area, linear, cubic, nearest
        std::string name = "resize";
    };
    explicit Resize(Options options);
    void open(const StageContext& context) override;
    Outcome process(Frame& frame) override;

private:
    Options options_;
    int interpolation_ = 0;
};

/// Accepts every frame and does nothing with it: the end of a chain whose work is done by earlier stages, and the
/// sink for benchmarks.
class NullSink final : public Stage {
public:
    explicit NullSink(std::string name = "null") : Stage({.name = std::move(name), .parallel = true}) {}
    Outcome process(Frame&) override { return Outcome::pass; }
};

}  // namespace framepipe
