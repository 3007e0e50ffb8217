#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <opencv2/core/utility.hpp>

int main(int argc, char** argv) {
#if defined(__SANITIZE_THREAD__)
    // See tests/tsan.supp: under ThreadSanitizer OpenCV's own parallel_for_ runs single-threaded, because oneTBB's
    // nested-arena code that it goes through synchronises with fences TSan cannot see.
    cv::setNumThreads(1);
#endif
    doctest::Context context(argc, argv);
    return context.run();
}
