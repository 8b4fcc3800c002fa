#!/usr/bin/env bash
# Process-level comparison for issue 3: CPU time of onair's `remux` example vs
# `ffmpeg -c copy -f mpegts` vs `cp` (the floor: reading and writing the bytes), on a
# 10-minute 3 Mbps FLV (H.264 + AAC), plus instruction counts from valgrind's callgrind.
#
# Usage: scripts/bench-remux.sh [RUNS]   (default 3 runs each; the best CPU time is kept)
# SKIP_CALLGRIND=1 skips the (slow) instruction counts.
# The input is generated once with ffmpeg and cached under target/bench-remux/.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${1:-3}
DIR=target/bench-remux
mkdir -p "$DIR"
IN=$DIR/in-600s-3mbps.flv

if [[ ! -s $IN ]]; then
    echo "generating $IN (10 minutes, 3 Mbps H.264 + 128 kbps AAC; takes a few minutes)..."
    ffmpeg -v error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 \
        -t 600 -c:v libx264 -preset ultrafast -b:v 3M -maxrate 3M -bufsize 6M -g 60 \
        -pix_fmt yuv420p -c:a aac -b:a 128k "$IN.partial.flv"
    mv "$IN.partial.flv" "$IN"
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --no-default-features --example remux
REMUX=$CARGO_TARGET_DIR/release/examples/remux

# CPU seconds (user + system) of one run of the command.
cpu() {
    /usr/bin/time -f '%U %S' -o "$DIR/time.txt" "$@" >/dev/null 2>&1
    awk '{ printf "%.3f", $1 + $2 }' "$DIR/time.txt"
}

best() {
    local best="" t
    for _ in $(seq "$RUNS"); do
        rm -f "$DIR/out.ts" "$DIR/out.copy"
        t=$(cpu "$@")
        if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    done
    echo "$best"
}

# Warm the page cache so every contender reads from memory.
cat "$IN" >/dev/null

size=$(stat -c %s "$IN")
echo "input: $IN ($((size / 1000000)) MB); best of $RUNS runs, CPU seconds (user+sys)"
t_cp=$(best cp "$IN" "$DIR/out.copy")
# cp copies in the kernel (copy_file_range); cat moves the bytes through user space as any
# muxer must.
t_cat=$(best sh -c 'cat "$1" > "$2"' sh "$IN" "$DIR/out.copy")
t_remux=$(best "$REMUX" "$IN" "$DIR/out.ts")
t_ffmpeg=$(best ffmpeg -v error -y -i "$IN" -c copy -f mpegts "$DIR/out.ts")
"$REMUX" "$IN" "$DIR/out.ts"

printf '%-28s %8s s\n' "cp IN OUT" "$t_cp" "cat IN > OUT" "$t_cat" "remux IN OUT.ts" "$t_remux" \
    "ffmpeg -c copy -f mpegts" "$t_ffmpeg"
awk -v c="$t_cp" -v k="$t_cat" -v r="$t_remux" -v f="$t_ffmpeg" 'BEGIN {
    printf "remux / cp     = %.2fx   (goal: <= 1.5x)\n", r / c
    printf "remux / cat    = %.2fx\n", r / k
    printf "ffmpeg / cp    = %.2fx\n", f / c
    printf "ffmpeg / remux = %.2fx\n", f / r
}'

if [[ -z ${SKIP_CALLGRIND:-} ]] && command -v valgrind >/dev/null; then
    echo "instruction counts (valgrind --tool=callgrind, user space only; cp's copy happens in the kernel):"
    for name in remux ffmpeg cp; do
        case $name in
            remux) cmd=("$REMUX" "$IN" "$DIR/out.ts") ;;
            ffmpeg) cmd=(ffmpeg -v error -y -i "$IN" -c copy -f mpegts "$DIR/out.ts") ;;
            cp) cmd=(cp "$IN" "$DIR/out.copy") ;;
        esac
        rm -f "$DIR/out.ts" "$DIR/out.copy"
        ir=$(valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.$name" "${cmd[@]}" 2>&1 >/dev/null \
            | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | tail -1)
        printf '%-8s %16s instructions\n' "$name" "$ir"
    done
fi
