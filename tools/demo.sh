#!/bin/sh
# The main job on media this script makes itself (no camera or files needed): installs what it needs, builds the
# framepipe command, generates two short test videos with ffmpeg, and runs pipelines/thumbnails.yaml on both at once,
# writing thumbnails every 2 s and a contact sheet per video into build/demo/thumbnails/, and the run's profile:
# build/demo/run.json (report), build/demo/run.html (charts: open it in a browser) and build/demo/run.trace.json
# (open in chrome://tracing or ui.perfetto.dev).
# Extra arguments go to 'framepipe run' (e.g. --set thumbs.interval=1s, or --dry-run).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target framepipe_cli
demo=build/demo
mkdir -p "$demo"
[ -f "$demo/street.mp4" ] || ffmpeg -v error -f lavfi -i testsrc2=size=1280x720:rate=30:duration=12 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p "$demo/street.mp4"
[ -f "$demo/garden.mkv" ] || ffmpeg -v error -f lavfi \
  -i "life=size=960x540:rate=25:mold=10:ratio=0.1:death_color=#203040:life_color=#40e070" -t 10 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p "$demo/garden.mkv"
rm -rf "$demo/thumbnails"
./build/framepipe run pipelines/thumbnails.yaml "$demo/street.mp4" "$demo/garden.mkv" \
  --set thumbs.dir="$demo/thumbnails" --set sheet.dir="$demo/thumbnails" \
  --report "$demo/run.json" --trace "$demo/run.trace.json" "$@"
echo "thumbnails and contact sheets: $demo/thumbnails/   profile: $demo/run.html, $demo/run.trace.json"
