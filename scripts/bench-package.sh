#!/usr/bin/env bash
# CPU cost of packaging one stream as HLS: onair's `package` example versus `ffmpeg -f hls`
# (stream copy, same segment duration) on the same FLV input. Prints user+system CPU seconds
# of each (best of RUNS) and the ratio onair / ffmpeg for TS and fMP4 output.
#   scripts/bench-package.sh [SECONDS_OF_INPUT] (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-120}"
RUNS="${RUNS:-3}"
WORK="${CARGO_TARGET_DIR:-target}/bench-package"
mkdir -p "$WORK"
IN="$WORK/input-${SECS}s.flv"
if [ ! -s "$IN" ]; then
  # 720p30 H.264 at ~3 Mbit/s with a keyframe every second, and AAC: a typical live ingest.
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$SECS" \
    -pix_fmt yuv420p -c:v libx264 -preset ultrafast -b:v 3M -g 30 -keyint_min 30 -sc_threshold 0 \
    -c:a aac -b:a 128k -f flv "$IN.tmp" && mv "$IN.tmp" "$IN"
fi
cargo build --quiet --release --no-default-features --example package
BIN="${CARGO_TARGET_DIR:-target}/release/examples/package"

# cpu CMD...: user+sys CPU seconds of CMD, best of $RUNS
cpu() {
  local best="" out s
  for _ in $(seq "$RUNS"); do
    TIMEFORMAT='%U %S'
    out=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
    s=$(echo "$out" | awk '{print $1+$2}')
    if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN{exit !(a<b)}'; then best="$s"; fi
  done
  echo "$best"
}

report() {
  local name="$1" ours="$2" theirs="$3"
  awk -v n="$name" -v o="$ours" -v t="$theirs" -v s="$SECS" 'BEGIN {
    printf "%-5s onair %.3f s CPU, ffmpeg -f hls %.3f s CPU for %d s of 3 Mbit/s 720p30 -> ratio onair/ffmpeg = %.3f\n", n, o, t, s, o / t }'
}

rm -rf "$WORK/out-"*
mkdir -p "$WORK/out-ff-ts" "$WORK/out-ff-fmp4"
ours_ts=$(cpu "$BIN" "$IN" "$WORK/out-onair-ts" --vod --segment 2)
ff_ts=$(cpu ffmpeg -v error -y -i "$IN" -c copy -f hls -hls_time 2 -hls_playlist_type vod \
  -hls_segment_filename "$WORK/out-ff-ts/seg%d.ts" "$WORK/out-ff-ts/index.m3u8")
ours_mp4=$(cpu "$BIN" "$IN" "$WORK/out-onair-fmp4" --vod --segment 2 --fmp4)
ff_mp4=$(cpu ffmpeg -v error -y -i "$IN" -c copy -f hls -hls_time 2 -hls_playlist_type vod \
  -hls_segment_type fmp4 -hls_segment_filename "$WORK/out-ff-fmp4/seg%d.m4s" "$WORK/out-ff-fmp4/index.m3u8")
report TS "$ours_ts" "$ff_ts"
report fMP4 "$ours_mp4" "$ff_mp4"
