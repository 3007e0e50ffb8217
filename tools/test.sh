#!/bin/sh
# The test command: installs what it needs, builds framepipe (warnings as errors, here and in the fuzz build) and runs
# every test, including `package` (tests/package/check.sh: programs and examples/ built against an install of that
# build); then runs the engine's tests again under ThreadSanitizer (against a TSan-instrumented oneTBB built from
# Debian's source package, so the flow graph's own synchronisation is visible) and under AddressSanitizer +
# UndefinedBehaviorSanitizer; then builds the fuzz targets with clang (libFuzzer, ASan, UBSan) and runs each for
# FRAMEPIPE_FUZZ_SECONDS (default 30) side by side (fuzz/run.sh).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc)
started=$(date +%s)
elapsed() { echo "   ($(($(date +%s) - started)) s since the start)"; }
tools/install-deps.sh
# Line tables only (-g1): sanitizer reports and backtraces still name file and line, and the builds take a third less.
flags="-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
# The sanitizer builds at -O1 (what the sanitizers' authors advise): they compile a third faster, which is most of
# their time here, and run nearly as fast.
san_flags="-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"

echo "== build and test (RelWithDebInfo)"
elapsed
# The benchmarks (perf/) are left out: they assert nothing, and building them took two of the 20 minutes this command
# may take on 2 cores. Build them with `cmake -S . -B build -DFRAMEPIPE_BUILD_PERF=ON && cmake --build build --target perf`.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$flags" -DFRAMEPIPE_WARNINGS_AS_ERRORS=ON \
  -DFRAMEPIPE_BUILD_PERF=OFF >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ThreadSanitizer"
elapsed
tools/build-tbb-tsan.sh .cache/tbb-tsan
cmake -S . -B build-tsan "$san_flags" -DFRAMEPIPE_SANITIZE=thread -DTBB_DIR="$PWD/.cache/tbb-tsan/lib/cmake/TBB" \
  -DFRAMEPIPE_BUILD_PERF=OFF -DFRAMEPIPE_BUILD_CLI=OFF -DFRAMEPIPE_BUILD_PYTHON=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target sanitized_tests
ctest --test-dir build-tsan -L sanitized --output-on-failure

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
elapsed
cmake -S . -B build-asan "$san_flags" -DFRAMEPIPE_SANITIZE=address -DFRAMEPIPE_BUILD_PERF=OFF -DFRAMEPIPE_BUILD_CLI=OFF \
  -DFRAMEPIPE_BUILD_PYTHON=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target sanitized_tests
ctest --test-dir build-asan -L sanitized --output-on-failure -j"$jobs"

fuzz_seconds=${FRAMEPIPE_FUZZ_SECONDS:-30}
elapsed
echo "== fuzz: pipeline files, images, videos (libFuzzer + ASan + UBSan, $fuzz_seconds s each)"
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DFRAMEPIPE_FUZZ=ON -DFRAMEPIPE_BUILD_TESTS=OFF \
  -DFRAMEPIPE_BUILD_PERF=OFF -DFRAMEPIPE_BUILD_CLI=OFF -DFRAMEPIPE_BUILD_PYTHON=OFF -DFRAMEPIPE_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzzers
fuzz/run.sh build-fuzz "$fuzz_seconds"

echo "== all tests passed"
elapsed
