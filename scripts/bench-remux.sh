#!/usr/bin/env bash
# Process-level comparison: CPU time of onair's `remux` example vs
# `ffmpeg -c copy -f mpegts` vs `cp` (the floor: reading and writing the bytes), on a
# 10-minute 3 Mbps FLV (H.264 + AAC), plus instruction counts from valgrind's callgrind.
#
# CPU time is user + system time of the process and its children from wait4()'s rusage,
# in microseconds (`/usr/bin/time` rounds to 10 ms, too coarse at 50-100 ms), taken in
# interleaved rounds (see below), as the machine is shared and memory bandwidth, which
# dominates every contender here, varies by tens of percent. The user/system split is sampled by the
# kernel at the scheduler tick and is only indicative; the sum is exact.
#
# References: `cp` and `cat` (coreutils) both copy with copy_file_range(), i.e. once, inside
# the kernel. `dd bs=1M` moves the bytes through user space with read() and write(): two
# kernel copies, the floor of any program that transforms the bytes (a muxer adds its own
# user-space copy into 188-byte packets on top).
#
# Usage: scripts/bench-remux.sh [ROUNDS]   (default 9 interleaved rounds)
# SKIP_CALLGRIND=1 skips the (slow) instruction counts.
# BASELINE_REMUX=PATH adds another remux binary (e.g. one built from an earlier commit) as a
# contender, so a change is measured against what came before in the same rounds.
# The input is generated once with ffmpeg and cached under target/bench-remux/.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${1:-9}
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

# Warm the page cache so every contender reads from memory.
cat "$IN" >/dev/null

size=$(stat -c %s "$IN")
echo "input: $IN ($((size / 1000000)) MB); $RUNS interleaved rounds, CPU seconds"

# The contenders run in rounds: every round runs each of them once, in a shuffled order, so
# that a slow phase of the (shared, virtual) machine hits all of them alike instead of the
# ones whose turn it happened to be. Before each run the previous output is removed and the
# dirty pages are synced, outside the measured process. Reported per contender: the best and
# the median run; per ratio: the median of the per-round ratios with their range, and the
# ratio of the best runs.
python3 - "$RUNS" "$IN" "$DIR" "$REMUX" "${BASELINE_REMUX:-}" <<'PY'
import os, random, statistics, sys

runs, inp, d, remux, baseline = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ts, copy, none = f"{d}/out.ts", f"{d}/out.copy", f"{d}/none"
contenders = [
    ("cp IN OUT", copy, ["cp", inp, copy]),
    ("cat IN > OUT", copy, ["sh", "-c", 'cat "$1" > "$2"', "sh", inp, copy]),
    ("dd if=IN of=OUT bs=1M", copy, ["dd", f"if={inp}", f"of={copy}", "bs=1M"]),
    ("remux IN OUT.ts", ts, [remux, inp, ts]),
    ("remux --no-mmap IN OUT.ts", ts, [remux, "--no-mmap", inp, ts]),
    ("dd if=IN of=/dev/null bs=1M", none, ["dd", f"if={inp}", "of=/dev/null", "bs=1M"]),
    ("remux IN /dev/null", none, [remux, inp, "/dev/null"]),
    ("ffmpeg -c copy -f mpegts", ts, ["ffmpeg", "-v", "error", "-y", "-i", inp, "-c", "copy", "-f", "mpegts", ts]),
]
if baseline:
    contenders.append(("baseline remux IN OUT.ts", ts, [baseline, inp, ts]))

def measure(out, cmd):
    try:
        os.unlink(out)
    except FileNotFoundError:
        pass
    os.sync()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}")
    return ru.ru_utime + ru.ru_stime, ru.ru_utime, ru.ru_stime

results = {name: [] for name, _, _ in contenders}
for r in range(runs):
    order = contenders[:]
    random.shuffle(order)
    for name, out, cmd in order:
        results[name].append(measure(out, cmd))
    print(f"\rround {r + 1}/{runs}", end="", file=sys.stderr, flush=True)
print(file=sys.stderr)
for out in (ts, copy):
    try:
        os.unlink(out)
    except FileNotFoundError:
        pass

def total(name):
    return [t for t, _, _ in results[name]]

print(f"{'':28} {'best':>8} {'(user':>8} {'sys)':>8} {'median':>8}")
for name, _, _ in contenders:
    best = min(results[name])
    print(f"{name:28} {best[0]:8.4f} {best[1]:8.4f} {best[2]:8.4f} {statistics.median(total(name)):8.4f}")

def ratio(a, b, note=""):
    per_round = [x / y for x, y in zip(total(a), total(b))]
    best = min(total(a)) / min(total(b))
    med = statistics.median(per_round)
    print(f"{a.split(' IN')[0]:>15} / {b.split(' IN')[0]:<6} median {med:5.2f}x  "
          f"(rounds {min(per_round):.2f}-{max(per_round):.2f}x), best/best {best:5.2f}x{note}")
    return med

print("per-round CPU ratios:")
ratio("remux IN OUT.ts", "cp IN OUT", "   goal: <= 1.5x")
ratio("remux --no-mmap IN OUT.ts", "cp IN OUT")
ratio("remux IN OUT.ts", "cat IN > OUT")
ratio("remux IN OUT.ts", "dd if=IN of=OUT bs=1M", "   (dd: read + write through user space)")
ratio("ffmpeg -c copy -f mpegts", "cp IN OUT")
ratio("ffmpeg -c copy -f mpegts", "remux IN OUT.ts")
if baseline:
    ratio("remux IN OUT.ts", "baseline remux IN OUT.ts", "   (this build / BASELINE_REMUX)")
rn = statistics.median(total("remux IN /dev/null"))
rw = statistics.median(total("remux IN OUT.ts"))
print(f"remux medians: mapped reading + demux + mux {rn:.3f} s, writing the file {rw - rn:.3f} s")
PY
"$REMUX" "$IN" "$DIR/out.ts"

if [[ -z ${SKIP_CALLGRIND:-} ]] && command -v valgrind >/dev/null; then
    echo "instruction counts (valgrind --tool=callgrind, user space only; cp's copy happens in the kernel):"
    for name in remux ffmpeg cp dd; do
        case $name in
            remux) cmd=("$REMUX" "$IN" "$DIR/out.ts") ;;
            ffmpeg) cmd=(ffmpeg -v error -y -i "$IN" -c copy -f mpegts "$DIR/out.ts") ;;
            cp) cmd=(cp "$IN" "$DIR/out.copy") ;;
            dd) cmd=(dd if="$IN" of="$DIR/out.copy" bs=1M) ;;
        esac
        rm -f "$DIR/out.ts" "$DIR/out.copy"
        ir=$(valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.$name" "${cmd[@]}" 2>&1 >/dev/null \
            | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | tail -1)
        printf '%-8s %16s instructions\n' "$name" "$ir"
    done
fi
