#!/bin/sh
# Builds oneTBB from Debian's own source package with ThreadSanitizer, into $1 (default .cache/tbb-tsan).
# ThreadSanitizer cannot see the synchronisation inside Debian's prebuilt libtbb and reports false races in any code a
# flow graph runs; with an instrumented libtbb the pipeline tests run under TSan with nothing suppressed inside TBB
# (tests/tsan.supp lists the two suppressions that remain, for moodycamel and GDAL, and why).
# Needs deb-src entries (tools/install-deps.sh adds them). Takes about 15 s on 2 cores; skipped when already built.
set -eu
prefix=$(realpath -m "${1:-.cache/tbb-tsan}")
if [ -f "$prefix/lib/cmake/TBB/TBBConfig.cmake" ]; then
  echo "tbb-tsan: using $prefix"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -qq onetbb >/dev/null 2>&1 || {
  echo "tbb-tsan: 'apt-get source onetbb' failed; run tools/install-deps.sh first (it enables deb-src)" >&2
  exit 1
}
src=$(find . -maxdepth 1 -type d -name 'onetbb-*' | head -n 1)
cmake -S "$src" -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTBB_TEST=OFF -DTBB_EXAMPLES=OFF \
  -DTBBMALLOC_BUILD=OFF -DTBB_SANITIZE=thread -DTBB_STRICT=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build -j"$(nproc)" >build.log 2>&1 || { cat build.log >&2; exit 1; }
cmake --install build >/dev/null
echo "tbb-tsan: built into $prefix"
