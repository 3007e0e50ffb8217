#!/bin/sh
# Installs what framepipe needs to build, test and benchmark, from Debian 12's own packages, and enables Debian's
# source packages (deb-src) so the test command can build a ThreadSanitizer copy of oneTBB. Safe to run again: it only
# calls apt-get when something is missing. Run as root (or with sudo available).
set -eu

packages="build-essential cmake pkg-config git
  libopencv-dev libconcurrentqueue-dev libtbb-dev libfmt-dev libspdlog-dev doctest-dev libcli11-dev
  libyaml-cpp-dev nlohmann-json3-dev libbenchmark-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  ffmpeg python3 python3-opencv python3-jsonschema dpkg-dev"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: run as root (apt-get needs it)" >&2
    exit 2
  fi
fi

# deb-src: the same archives as the binary entries, for 'apt-get source onetbb'.
src_list=/etc/apt/sources.list.d/framepipe-deb-src.sources
need_update=""
if [ ! -f "$src_list" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $sudo tee "$src_list" >/dev/null
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
