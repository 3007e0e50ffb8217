#pragma once

namespace framepipe::detail {

/// Something that can be told "there may be work for you now". wake() must be thread-safe, cheap, non-blocking and
/// tolerant of spurious calls; it is called on the frame path.
class Wakeable {
public:
    virtual void wake() noexcept = 0;

protected:
    ~Wakeable() = default;
};

}  // namespace framepipe::detail
