#!/bin/sh
# Builds programs outside framepipe's tree against a finished build BUILD (default: build), every way a project can
# take framepipe, and runs them; each way prints one line when it passed, and the first failure exits non-zero:
#   1. find_package(framepipe) from an install prefix (`cmake --install BUILD --prefix TMP`), also compiling every
#      installed header on its own (tests/package/CMakeLists.txt),
#   2. find_package(framepipe) from the build tree (framepipe_DIR=BUILD),
#   3. pkg-config (framepipe.pc from the install prefix), one compiler command,
#   4. add_subdirectory(framepipe) from a parent project: configured only; the parent's empty build type stands and
#      no tests, benchmarks or command are defined,
#   5. every example in examples/ against the install prefix (examples/run.sh).
# Uses $CMAKE, $CTEST and $CXX (default cmake, ctest, c++). Registered as the ctest test `package` (label package).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cmake=${CMAKE:-cmake}
cxx=${CXX:-c++}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/framepipe-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
prefix="$tmp/prefix"

# run LOG COMMAND...: the command's output goes to LOG, and is shown only when it fails.
run() {
    log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        echo "package: FAILED: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# consumer NAME CMAKE-ARGS...: configures, builds and runs tests/package against the package found through the args.
consumer() {
    name=$1
    shift
    run "$tmp/$name.log" "$cmake" -S "$here" -B "$tmp/$name" -DCMAKE_CXX_COMPILER="$cxx" "$@"
    run "$tmp/$name.log" "$cmake" --build "$tmp/$name" --parallel 2
    run "$tmp/$name.log" "$tmp/$name/consumer"
    tail -n 1 "$tmp/$name.log"
}

run "$tmp/install.log" "$cmake" --install "$build" --prefix "$prefix"
libdir=$(dirname "$(find "$prefix" -name framepipe.pc)")
libdir=${libdir%/pkgconfig}

line=$(consumer from-prefix "-DCMAKE_PREFIX_PATH=$prefix")
echo "package: find_package(framepipe) from an install prefix, every installed header on its own: ok ($line)"

line=$(consumer from-build-tree "-Dframepipe_DIR=$build" -DCHECK_HEADERS=OFF)
echo "package: find_package(framepipe) from the build tree: ok ($line)"

flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs framepipe)
# shellcheck disable=SC2086  # $flags is a list of words
run "$tmp/pkg-config.log" "$cxx" -std=c++20 "$here/main.cpp" -o "$tmp/pkg-config-consumer" $flags \
    "-Wl,-rpath,$libdir"  # a shared libframepipe is not where the loader looks
run "$tmp/pkg-config.log" "$tmp/pkg-config-consumer"
echo "package: pkg-config --cflags --libs framepipe: ok ($(tail -n 1 "$tmp/pkg-config.log"))"

run "$tmp/subdirectory.log" "$cmake" -S "$here/subdirectory" -B "$tmp/subdirectory" -DCMAKE_CXX_COMPILER="$cxx" \
    "-DFRAMEPIPE_SOURCE_DIR=$root"
echo "package: add_subdirectory(framepipe): ok (no build type forced; no tests, benchmarks or command)"

module=$(find "$prefix" -path '*/dist-packages/framepipe*.so' | head -n 1)
if [ -n "$module" ]; then  # built with the Python module
    run "$tmp/python.log" env PYTHONPATH="$(dirname "$module")" "${PYTHON:-python3}" -c \
        "import framepipe; p = framepipe.Pipeline(); p.add_source('synthetic', frames=3).add('null'); print(p.run()['sources'][0]['delivered'], 'frames')"
    echo "package: the installed Python module imports from the prefix and runs: ok ($(tail -n 1 "$tmp/python.log"))"
fi

run "$tmp/examples.log" "$root/examples/run.sh" "$prefix" "$tmp/examples"
echo "package: examples against the install prefix: ok ($(grep -c '^example ' "$tmp/examples.log") built and run)"
