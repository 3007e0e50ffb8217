#!/bin/sh
# Installs what framepipe needs to build, test, fuzz and benchmark, from Debian 12's own packages, and enables Debian's
# source packages (deb-src) so the test command can build a ThreadSanitizer copy of oneTBB. Fuzzing needs clang-14 with
# its libFuzzer and sanitizer runtimes (libclang-rt-14-dev), and llvm-14 for llvm-symbolizer (file and line in
# sanitizer reports). Safe to run again: it only calls apt-get when something is missing. Run as root (or with sudo
# available).
set -eu

packages="build-essential cmake pkg-config git
  libopencv-dev libconcurrentqueue-dev libtbb-dev libfmt-dev libspdlog-dev doctest-dev libcli11-dev
  libyaml-cpp-dev nlohmann-json3-dev libbenchmark-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  libavdevice-dev libjpeg-dev
  clang-14 libclang-rt-14-dev llvm-14
  ffmpeg python3 python3-opencv python3-jsonschema dpkg-dev
  python3-dev python3-numpy python3-pytest pybind11-dev
  libhiredis-dev redis-server libmosquitto-dev mosquitto mosquitto-clients
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: run as root (apt-get needs it)" >&2
    exit 2
  fi
fi

# deb-src: the same archives as the binary entries, for 'apt-get source onetbb'. Debian 12 images list them in
# deb822 form (debian.sources); installed systems often in the classic one-line sources.list.
need_update=""
if ! grep -rqs -e '^Types:.*deb-src' -e '^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      $sudo tee /etc/apt/sources.list.d/framepipe-deb-src.sources >/dev/null
  elif grep -qs '^deb ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $sudo tee /etc/apt/sources.list.d/framepipe-deb-src.list >/dev/null
  else
    echo "deb-src http://deb.debian.org/debian bookworm main" |
      $sudo tee /etc/apt/sources.list.d/framepipe-deb-src.list >/dev/null
  fi
  need_update=yes
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] || [ -n "$need_update" ]; then
  echo "install-deps: installing:${missing:- (package lists only)}"
  $sudo apt-get update -qq
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  fi
fi
