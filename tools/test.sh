#!/bin/sh
# The test command: installs what it needs, builds framepipe (warnings as errors) and runs every test, including
# `package` (tests/package/check.sh: programs and examples/ built against an install of that build); then runs the
# tests of code with threads of its own (label `tsan`) again under ThreadSanitizer, against a TSan-instrumented oneTBB
# built from Debian's source package, so the flow graph's own synchronisation is visible; then builds with clang
# (libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer) the tests of code that handles pixels, packets and requests
# (label `asan`) and the fuzz targets, runs those tests, and runs each fuzz target for FRAMEPIPE_FUZZ_SECONDS (default
# 30) side by side (fuzz/run.sh).
#
# Every build is a unity build (CMAKE_UNITY_BUILD: a few .cpp files compiled as one), which takes 40% less time on
# 2 cores; the code keeps file-local names apart for it.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc)
started=$(date +%s)
elapsed() { echo "   ($(($(date +%s) - started)) s since the start)"; }
tools/install-deps.sh
# Line tables only (-g1): sanitizer reports and backtraces still name file and line, and the builds take a third less.
flags="-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
unity="-DCMAKE_UNITY_BUILD=ON"
# The ThreadSanitizer build at -O1 (what the sanitizers' authors advise; the clang build's flags are in
# fuzz/flags.cmake): it compiles a third faster, which is most of its time here, and runs nearly as fast.
san_flags="-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"

echo "== build and test (RelWithDebInfo)"
elapsed
# The benchmarks (perf/) are left out: they assert nothing, and building them took two of the 20 minutes this command
# may take on 2 cores. Build them with `cmake -S . -B build -DFRAMEPIPE_BUILD_PERF=ON && cmake --build build --target perf`.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$flags" "$unity" -DFRAMEPIPE_WARNINGS_AS_ERRORS=ON \
  -DFRAMEPIPE_BUILD_PERF=OFF >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ThreadSanitizer"
elapsed
tools/build-tbb-tsan.sh .cache/tbb-tsan
cmake -S . -B build-tsan "$san_flags" "$unity" -DFRAMEPIPE_SANITIZE=thread \
  -DTBB_DIR="$PWD/.cache/tbb-tsan/lib/cmake/TBB" -DFRAMEPIPE_BUILD_PERF=OFF -DFRAMEPIPE_BUILD_CLI=OFF \
  -DFRAMEPIPE_BUILD_PYTHON=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target tsan_tests
# One at a time: two TSan suites side by side took 62 s instead of 78 on 2 cores, but each ran slower than its live
# tests allow for (the engine stress tests use both cores).
ctest --test-dir build-tsan -L tsan --output-on-failure

fuzz_seconds=${FRAMEPIPE_FUZZ_SECONDS:-30}
echo "== AddressSanitizer + UndefinedBehaviorSanitizer (clang, with libFuzzer's instrumentation): tests, then fuzzing"
elapsed
# One build serves both: the fuzz targets' flags (fuzz/flags.cmake) are ASan + UBSan with every report fatal.
cmake -S . -B build-asan "$unity" -DCMAKE_CXX_COMPILER=clang++-14 -DFRAMEPIPE_FUZZ=ON -DFRAMEPIPE_BUILD_PERF=OFF \
  -DFRAMEPIPE_BUILD_CLI=OFF -DFRAMEPIPE_BUILD_PYTHON=OFF -DFRAMEPIPE_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build build-asan -j"$jobs" --target asan_tests fuzzers
ctest --test-dir build-asan -L asan --output-on-failure -j"$jobs"
elapsed
echo "   fuzz: pipeline files, images, videos ($fuzz_seconds s each)"
fuzz/run.sh build-asan "$fuzz_seconds"

echo "== all tests passed"
elapsed
