#!/usr/bin/env bash
# CPU cost of an ABR ladder: onair's `ladder` example (one decode, scaler cascade, one
# libx264 per rung on worker threads, HLS TS output) against one FFmpeg process doing the
# same ladder with `-filter_complex split/scale` and the same x264 settings (preset, bitrate,
# VBV, profile, no B-frames, lookahead, a keyframe every 2 s, audio copied), on a 1080p30
# testsrc2 H.264 input. Rounds are interleaved (onair, ffmpeg, onair, ffmpeg, ...) so that a
# machine shared with other work loads both alike; prints every round's user+sys CPU
# seconds and wall time, the median of each, and the ratio onair / ffmpeg.
#
# Then: a 720p30 source into 480p + 360p + the source passed through, speed as a multiple
# of real time (wall clock; only meaningful on an idle machine).
#
#   scripts/bench-ladder.sh [SECONDS_OF_INPUT] (default 20)
#   ROUNDS=5 PRESET=veryfast LADDER_ARGS="--threads 1" FFMPEG_THREADS=auto scripts/bench-ladder.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
ROUNDS="${ROUNDS:-5}"
PRESET="${PRESET:-veryfast}"
LADDER_ARGS="${LADDER_ARGS:-}"
# x264 threads per encoder in FFmpeg: `auto` is what a user gets; 1 matches onair's default.
FFMPEG_THREADS="${FFMPEG_THREADS:-auto}"
WORK="${CARGO_TARGET_DIR:-target}/bench-ladder"
mkdir -p "$WORK"

make_input() { # SIZE BITRATE OUT
  local size="$1" rate="$2" out="$3"
  if [ ! -s "$out" ]; then
    # A camera-like source: H.264 with B-frames, 2 s GOPs, AAC.
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=$size:rate=30" \
      -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$SECS" \
      -pix_fmt yuv420p -c:v libx264 -preset veryfast -b:v "$rate" -g 60 -keyint_min 60 -sc_threshold 0 \
      -c:a aac -b:a 128k -f flv "$out.tmp" && mv "$out.tmp" "$out"
  fi
}
IN="$WORK/input-1080p-6M-${SECS}s.flv"
IN720="$WORK/input-720p-3M-${SECS}s.flv"
make_input 1920x1080 6M "$IN"
make_input 1280x720 3M "$IN720"

export FFMPEG_PKG_CONFIG_PATH="${FFMPEG_PKG_CONFIG_PATH:-$PWD/target/ffmpeg-pkgconfig}"
cargo build --quiet --release --example ladder
BIN="${CARGO_TARGET_DIR:-target}/release/examples/ladder"

# x264 settings both sides use: onair's ladder defaults (VBV max rate 110% of the bitrate,
# a one-second buffer at that rate, High profile, no B-frames, 10 frames of lookahead,
# constant frame rate), keyframes every 2 s, no scene cuts.
x264() { # KBPS
  local kbps="$1" max=$(( $1 * 11 / 10 ))
  echo "-c:v libx264 -preset $PRESET -b:v ${kbps}k -maxrate ${max}k -bufsize ${max}k -profile:v high \
    -bf 0 -rc-lookahead 10 -g 60 -keyint_min 60 -sc_threshold 0 -threads $FFMPEG_THREADS"
}

run_onair() {
  rm -rf "$WORK/out-onair"
  # shellcheck disable=SC2086
  "$BIN" "$IN" "$WORK/out-onair" --ladder 720p,480p,360p --preset "$PRESET" --segment 2 $LADDER_ARGS
}

run_ffmpeg() {
  rm -rf "$WORK/out-ffmpeg" && mkdir -p "$WORK/out-ffmpeg"
  # shellcheck disable=SC2046
  ffmpeg -v error -y -i "$IN" \
    -filter_complex "[0:v]split=3[a][b][c];[a]scale=1280:720[v1];[b]scale=854:480[v2];[c]scale=640:360[v3]" \
    -map "[v1]" -map 0:a $(x264 3000) -c:a copy -f mpegts "$WORK/out-ffmpeg/720p.ts" \
    -map "[v2]" -map 0:a $(x264 1500) -c:a copy -f mpegts "$WORK/out-ffmpeg/480p.ts" \
    -map "[v3]" -map 0:a $(x264 800) -c:a copy -f mpegts "$WORK/out-ffmpeg/360p.ts"
}

# measure NAME CMD: appends "user+sys wall" of one run to $WORK/NAME.times
measure() {
  local name="$1"; shift
  local out
  TIMEFORMAT='%U %S %R'
  out=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
  echo "$out" | awk '{printf "%.3f %.3f\n", $1 + $2, $3}' >> "$WORK/$name.times"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

rm -f "$WORK/onair.times" "$WORK/ffmpeg.times"
echo "ladder 720p/480p/360p $PRESET from ${SECS} s of 1080p30 H.264, $ROUNDS interleaved rounds (load: $(cut -d' ' -f1-3 /proc/loadavg))"
for round in $(seq "$ROUNDS"); do
  measure onair run_onair
  measure ffmpeg run_ffmpeg
  printf "round %d: onair %s s CPU (%s s wall), ffmpeg %s s CPU (%s s wall)\n" "$round" \
    $(tail -1 "$WORK/onair.times") $(tail -1 "$WORK/ffmpeg.times")
done
ours=$(cut -d' ' -f1 "$WORK/onair.times" | median)
theirs=$(cut -d' ' -f1 "$WORK/ffmpeg.times" | median)
awk -v o="$ours" -v t="$theirs" 'BEGIN {
  printf "median CPU: onair %.2f s, ffmpeg %.2f s -> onair/ffmpeg = %.3f\n", o, t, o / t }'

# Keyframes line up in every rendition (checked, not assumed).
for r in 720p 480p 360p; do
  ffprobe -v error -select_streams v -show_entries packet=pts_time,flags -of csv=p=0 \
    "$WORK/out-onair/$r/index.m3u8" | awk -F, '/K/ {printf "%s ", $1}' > "$WORK/keys-$r.txt"
done
if cmp -s "$WORK/keys-720p.txt" "$WORK/keys-480p.txt" && cmp -s "$WORK/keys-480p.txt" "$WORK/keys-360p.txt"; then
  echo "onair keyframes identical in 720p/480p/360p: $(wc -w < "$WORK/keys-720p.txt") each"
else
  echo "onair keyframes DIFFER between renditions" && exit 1
fi

rm -rf "$WORK/out-720"
TIMEFORMAT='%U %S %R'
t=$( { time "$BIN" "$IN720" "$WORK/out-720" --ladder source,480p,360p --preset "$PRESET" >/dev/null 2>&1; } 2>&1 )
echo "$t" | awk -v s="$SECS" -v load="$(cut -d' ' -f1 /proc/loadavg)" '{
  cpu = $1 + $2; wall = $3
  printf "720p30 3 Mbit/s -> source + 480p + 360p: %d s of media in %.2f s wall = %.2fx real time (load %s); %.2f s CPU = %.2fx real time per core\n", s, wall, s / wall, load, cpu, s / cpu }'
