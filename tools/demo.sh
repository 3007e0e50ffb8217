#!/bin/sh
# The main job on a built-in default input: installs what it needs, builds the framepipe command, and runs it.
# Extra arguments go to 'framepipe run'.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target framepipe_cli
exec ./build/framepipe run "$@"
