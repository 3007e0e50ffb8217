#!/bin/sh
# examples/run.sh PREFIX [WORK]: builds every example (each folder of examples/ with a CMakeLists.txt, a project of its
# own that finds framepipe with find_package) against the framepipe installed in PREFIX, in WORK/<example> (default: a
# temporary folder, removed at the end), and runs its tests (ctest). Prints "example NAME: ok" for each; exits
# non-zero at the first one that fails to configure, build or pass. Uses $CMAKE and $CTEST (default cmake, ctest).
set -eu
if [ $# -lt 1 ]; then
    echo "usage: examples/run.sh PREFIX [WORK]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(cd "$1" && pwd)
cmake=${CMAKE:-cmake}
ctest=${CTEST:-ctest}
if [ $# -ge 2 ]; then
    work=$2
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/framepipe-examples.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
fi

for dir in "$here"/*/; do
    [ -f "$dir/CMakeLists.txt" ] || continue
    name=$(basename "$dir")
    "$cmake" -S "$dir" -B "$work/$name" "-DCMAKE_PREFIX_PATH=$prefix" >"$work/$name.log" 2>&1 &&
        "$cmake" --build "$work/$name" >>"$work/$name.log" 2>&1 &&
        "$ctest" --test-dir "$work/$name" --output-on-failure >>"$work/$name.log" 2>&1 || {
        echo "example $name: FAILED" >&2
        cat "$work/$name.log" >&2
        exit 1
    }
    echo "example $name: ok"
done
