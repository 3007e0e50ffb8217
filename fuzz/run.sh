#!/bin/sh
# Runs every fuzz target of a FRAMEPIPE_FUZZ build for a bounded time, all at once, from seeds made here: the pipeline
# files in pipelines/ and fuzz/seeds/pipeline_file/, one file per catalogue example (with the dictionary, written by the
# target itself), and tiny images and videos made with the ffmpeg command.
#
#   fuzz/run.sh BUILD_DIR [SECONDS]        (SECONDS per target, default 60; the targets run side by side)
#
# Work goes under BUILD_DIR/fuzz-run/: seeds/ (remade each run), corpus/ (what the fuzzer found interesting, kept and
# grown across runs, never committed), artifacts/ (inputs that failed), TARGET.log. Exits 1 when a target found a
# failure (crash, sanitizer report, uncaught exception, broken contract, timeout, out of memory), printing its report
# and the input to reproduce it with: BUILD_DIR/fuzz/TARGET ARTIFACT.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
seconds=${2:-60}
targets="fuzz_pipeline_file fuzz_image fuzz_video"
work="$build/fuzz-run"
rm -rf "$work/seeds" "$work/artifacts" "$work/cwd"
mkdir -p "$work/seeds" "$work/artifacts" "$work/cwd"
for t in $targets; do mkdir -p "$work/seeds/$t" "$work/corpus/$t" "$work/artifacts/$t"; done

# Seeds.
FRAMEPIPE_FUZZ_EXPORT="$work/seeds/fuzz_pipeline_file" "$build/fuzz/fuzz_pipeline_file"
mv "$work/seeds/fuzz_pipeline_file/pipeline_file.dict" "$work/pipeline_file.dict"
cp "$root"/pipelines/*.yaml "$root"/fuzz/seeds/pipeline_file/*.yaml "$work/seeds/fuzz_pipeline_file/"
seed() {  # seed TARGET NAME FFMPEG-OUTPUT-OPTIONS...: one tiny picture or clip of a test pattern
  target=$1 name=$2
  shift 2
  # 40 wide: not a multiple of 16, where libswscale writes past the last pixel (see convert in video_decode.cpp)
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=40x24:rate=10" "$@" "$work/seeds/$target/$name"
}
for image in png jpg bmp tiff webp ppm pgm pbm pam sun; do seed fuzz_image "seed.$image" -frames:v 1; done
seed fuzz_image seed-gray.png -frames:v 1 -pix_fmt gray
seed fuzz_image seed-16bit.png -frames:v 1 -pix_fmt rgb48be
seed fuzz_image seed-progressive.jpg -frames:v 1 -pix_fmt yuvj420p -q:v 20
seed fuzz_image seed-gray.tiff -frames:v 1 -pix_fmt gray -compression_algo lzw
# A format OpenCV decodes and framepipe must refuse undecoded (no header it reads).
seed fuzz_image seed.jp2 -frames:v 1 -c:v libopenjpeg -numresolution 2 -pix_fmt rgb24
FRAMEPIPE_FUZZ_EXPORT="$work/seeds/fuzz_image" "$build/fuzz/fuzz_image"
# What fuzz_image found: a DICOM preamble, which OpenCV hands to GDCM (that aborts on it) unless framepipe refuses it.
{ printf '%0128d' 0 | tr 0 '&'; printf 'DICM\211PN'; } >"$work/seeds/fuzz_image/dicom-preamble"
seed fuzz_video mjpeg.avi -frames:v 3 -c:v mjpeg -q:v 20
seed fuzz_video mpeg4.mkv -frames:v 4 -c:v mpeg4 -bf 1 -g 3
seed fuzz_video h264.mp4 -frames:v 4 -c:v libx264 -preset ultrafast -bf 1 -g 3 -pix_fmt yuv420p
seed fuzz_video h264.h264 -frames:v 3 -c:v libx264 -preset ultrafast -g 2 -pix_fmt yuv420p
seed fuzz_video mpeg2.ts -frames:v 3 -c:v mpeg2video -g 2
seed fuzz_video vp8.webm -frames:v 3 -c:v libvpx -b:v 20k
seed fuzz_video anim.gif -frames:v 2
seed fuzz_video ffv1.nut -frames:v 2 -c:v ffv1
# Timestamps that jump by 4e18 time-base units: the fuzzer cannot see inside FFmpeg (not instrumented), so seeds carry
# what framepipe's own timestamp arithmetic must survive.
jump="setts=ts=if(gte(N\\,2)\\,TS+4000000000000000000\\,TS)"
for ext in mkv nut; do seed fuzz_video "jump.$ext" -frames:v 4 -c:v mpeg4 -g 2 -bf 1 -bsf:v "$jump"; done
# A colour matrix no enumerator of FFmpeg's AVColorSpace names (found by fuzz_video in an MPEG-4 stream).
seed fuzz_video matrix199.ts -frames:v 3 -c:v mpeg2video -bsf:v mpeg2_metadata=matrix_coefficients=199
# Names without extensions: the video target writes its input without one, so FFmpeg probes by content alone.
for f in "$work/seeds/fuzz_video"/*.*; do mv "$f" "${f%.*}-${f##*.}"; done

# Sanitizer settings: every report fatal, with a stack (UBSan's are fatal already: -fno-sanitize-recover=all).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1"
# Symbolized stacks (file:line) in reports: llvm-14's symbolizer has no unversioned name unless `llvm` is installed.
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  ASAN_OPTIONS="$ASAN_OPTIONS:external_symbolizer_path=/usr/lib/llvm-14/bin/llvm-symbolizer"
  UBSAN_OPTIONS="$UBSAN_OPTIONS:external_symbolizer_path=/usr/lib/llvm-14/bin/llvm-symbolizer"
fi
# The targets write each input to a file: in memory where there is a tmpfs, in a folder removed at the end (a target
# that crashed cannot remove its own).
base=/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
TMPDIR=$(mktemp -d "$base/framepipe-fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

flags() {  # flags TARGET: what bounds each target
  case $1 in
    fuzz_pipeline_file) echo "-max_len=8192 -dict=$work/pipeline_file.dict" ;;
    fuzz_image) echo "-max_len=16384" ;;
    fuzz_video) echo "-max_len=32768" ;;
  esac
}
echo "fuzz: $targets, ${seconds} s each, side by side"
pids=""
for t in $targets; do
  # shellcheck disable=SC2046
  (cd "$work/cwd" && exec "$build/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
     -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" $(flags "$t") \
     "$work/corpus/$t" "$work/seeds/$t") >"$work/$t.log" 2>&1 &
  pids="$pids $!"
done
failed=""
set -- $targets
for pid in $pids; do
  t=$1
  shift
  if wait "$pid"; then
    printf '  %-20s ok: %s runs, coverage %s, corpus %s inputs\n' "$t" \
      "$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")" \
      "$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1 | cut -d' ' -f2)" \
      "$(find "$work/corpus/$t" -type f | wc -l)"
  else
    failed="$failed $t"
    echo "  $t FAILED; its report ($work/$t.log):"
    grep -a -v -e '^#[0-9]' -e '^INFO:' -e '^MS:' -e '^stat::' "$work/$t.log" | tail -60 | sed 's/^/    /'
    for a in "$work/artifacts/$t"/*; do
      [ -e "$a" ] && echo "    reproduce: $build/fuzz/$t $a"
    done
  fi
done
[ -z "$failed" ] || { echo "fuzz: failures in:$failed" >&2; exit 1; }
