#!/usr/bin/env bash
# Installs everything the onair build and test suite need on Debian 12, idempotently.
# On machines without apt or root it prints what to install instead.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build: FFmpeg dev libraries for rsmpeg (transcode, encoder) and libclang for bindgen
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev libpostproc-dev
  # interop peers (prometheus scrapes the server's metrics in tests; started by the test)
  ffmpeg nginx libnginx-mod-rtmp rtmpdump prometheus
  # the CDN edge (deploy/nginx-edge.conf) checks playback tokens in njs
  libnginx-mod-http-js
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # browser tests: hls.js in headless Chromium, driven by playwright-core (never its own browser)
  chromium
  # benches and tooling
  valgrind python3-pip ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq
    # policy-rc.d keeps Debian's nginx and prometheus from starting system services
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "setup: please install these Debian packages (or your system's equivalents): ${missing[*]}" >&2
    exit 1
  fi
fi

# FFmpeg 9 with Enhanced RTMP (HEVC/Opus in FLV), shipped as a static binary inside a PyPI package.
if ! python3 -c 'import imageio_ffmpeg' 2>/dev/null; then
  echo "setup: pip install imageio-ffmpeg==0.8.1"
  python3 -m pip install -q --break-system-packages imageio-ffmpeg==0.8.1 2>/dev/null \
    || python3 -m pip install -q imageio-ffmpeg==0.8.1
fi

# cargo-fuzz for the fuzz targets (nightly toolchain)
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "setup: cargo install cargo-fuzz"
  cargo install -q cargo-fuzz --locked
fi
if ! rustup toolchain list | grep -q nightly; then
  rustup toolchain install nightly --profile minimal
fi
# Browser tests (tests/browser): playwright-core and hls.js at the versions package-lock.json pins.
# Node.js 20+ comes from the machine (Debian 12's nodejs is 18, too old for playwright-core).
if ! command -v npm >/dev/null 2>&1 || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "setup: please install Node.js 20 or newer with npm (for tests/browser)" >&2
  exit 1
fi
lock_sum="$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)"
stamp=tests/browser/node_modules/.onair-lock-sha256
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" > "$stamp"
fi
echo "setup: ok"
