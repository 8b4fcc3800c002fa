#!/usr/bin/env bash
# Side-by-side cost of a live HLS origin: onair's `server` example (RTMP ingest + in-memory HLS
# packaging + HTTP origin, one process) against nginx-rtmp (RTMP ingest + HLS files on disk)
# with nginx's http module serving those files (`sendfile on`), in one nginx process.
#
# 1. Ingest + packaging: the same FLV (60 s of 720p30 3 Mbps H.264 + AAC, a keyframe every
#    2 s) is published with `ffmpeg -c copy -f flv` as fast as ffmpeg can send it (no -re) to
#    each server, in shuffled interleaved rounds, each to a fresh stream key. Measured: the
#    server process's CPU time over the publish (the sum of its threads' on-CPU nanoseconds
#    from /proc/PID/task/*/schedstat, ticks from /proc/PID/stat as a cross-check), taken
#    after the publisher exited and the server went idle again. Both must have written the
#    same number of segments.
# 2. Segment serving: `examples/http_load.rs` keeps N keep-alive HTTP/1.1 connections GETting
#    the segments of one stream round-robin for T seconds (bodies read in full), against each
#    server in interleaved rounds. Reported: req/s, MB/s and server CPU seconds per GB served.
#    The served stream is held live by a publisher that sends the file at once, then loops it
#    at real time (FFmpeg 9's -readrate_initial_burst), so both playlists grow by a segment
#    every 2 s during the runs (a few ms of ingest CPU per run, counted for both).
# 3. The same load on the playlist URL alone (a few KB per response), which shows the
#    per-request cost of each server rather than the cost of moving segment bytes.
#
# nginx runs with `master_process off`: one process does everything, like `worker_processes
# 1` without the idle master, and its PID is the one measured. onair's server is a tokio
# multi-thread runtime (one worker per core: 2 here) plus its blocking pool.
# The load generator itself runs on 1 thread (LOAD_THREADS) on the same machine: absolute req/s are bounded
# by the machine, CPU per GB is the comparable figure.
#
# Usage: scripts/bench-origin.sh [ROUNDS]   (default 3 interleaved rounds per phase)
# CONNECTIONS=8 SECONDS_PER_ROUND=5 LOAD_THREADS=1 override the load; the input is generated once and cached under
# target/bench-origin/.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
CONNECTIONS=${CONNECTIONS:-8}
LOAD_SECONDS=${SECONDS_PER_ROUND:-5}
DIR=$PWD/target/bench-origin
mkdir -p "$DIR"
IN=$DIR/in-60s-720p30-3mbps.flv
RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

for tool in ffmpeg nginx python3; do
    command -v "$tool" >/dev/null || { echo "$tool missing: run scripts/setup.sh" >&2; exit 1; }
done
[[ -f $RTMP_MODULE ]] || { echo "nginx-rtmp missing: install libnginx-mod-rtmp" >&2; exit 1; }

if [[ ! -s $IN ]]; then
    echo "generating $IN (60 s, 720p30 3 Mbps H.264 + 128 kbps AAC, keyframe every 2 s)..."
    timeout 600 ffmpeg -v error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 \
        -t 60 -c:v libx264 -preset ultrafast -b:v 3M -maxrate 3M -bufsize 6M \
        -g 60 -keyint_min 60 -sc_threshold 0 -pix_fmt yuv420p \
        -c:a aac -b:a 128k -f flv "$IN.partial"
    mv "$IN.partial" "$IN"
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --no-default-features --example server --example http_load
SERVER=$CARGO_TARGET_DIR/release/examples/server
LOAD=$CARGO_TARGET_DIR/release/examples/http_load

# Everything the servers write lives in one fresh run folder, on tmpfs when there is one
# (onair keeps its segments in memory; nginx-rtmp's files should not pay for a disk), else
# under target/. The python driver starts and stops both servers (and kills them on any exit).
if [[ -d /dev/shm && -w /dev/shm ]]; then
    RUN=$(mktemp -d /dev/shm/bench-origin.XXXXXX)
    trap 'rm -rf "$RUN"' EXIT
else
    RUN=$DIR/run
    rm -rf "$RUN"
    mkdir -p "$RUN"
fi
echo "server folder: $RUN"
cat "$IN" >/dev/null

FFMPEG9=$(python3 -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())' 2>/dev/null) || {
    echo "FFmpeg 9 missing (pip install imageio-ffmpeg==0.8.1, see scripts/setup.sh)" >&2
    exit 1
}

python3 - "$ROUNDS" "$CONNECTIONS" "$LOAD_SECONDS" "$IN" "$RUN" "$SERVER" "$LOAD" "$RTMP_MODULE" "$FFMPEG9" <<'PY'
import atexit, os, random, re, signal, socket, statistics, subprocess, sys, time, urllib.request

rounds, conns, load_secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
inp, run, server_bin, load_bin, module, ffmpeg9 = sys.argv[4:10]
load_threads = int(os.environ.get("LOAD_THREADS", "1"))
TICK = os.sysconf("SC_CLK_TCK")
children = []

def cleanup():
    # publishers first, then the servers; SIGTERM so that `timeout` passes it on to ffmpeg
    for p in reversed(children):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def cpu(pid):
    """(schedstat seconds summed over live threads, stat utime+stime seconds) of a process."""
    ns = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                ns += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return ns / 1e9, (int(fields[11]) + int(fields[12])) / TICK

def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

def wait_port(port, proc, what):
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}; see {run}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} does not listen on {port}")

def wait_idle(pid, limit=10.0):
    """Waits until the process used less than 2 ms of CPU in 200 ms (the backlog is done)."""
    end = time.monotonic() + limit
    last = cpu(pid)[0]
    while time.monotonic() < end:
        time.sleep(0.2)
        now = cpu(pid)[0]
        if now - last < 0.002:
            return
        last = now
    sys.exit(f"process {pid} did not go idle within {limit} s")

def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()

def extinf(text):
    return sum(1 for l in text.splitlines() if l.startswith("#EXTINF"))

# --- servers -----------------------------------------------------------------------------
o_rtmp, o_http, n_rtmp, n_http = (free_port() for _ in range(4))
log = open(f"{run}/onair.log", "w")
onair = subprocess.Popen(
    [server_bin, "--rtmp", f"127.0.0.1:{o_rtmp}", "--http", f"127.0.0.1:{o_http}",
     "--hls", "ts", "--segment", "2", "--window", "1000"],
    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, "RUST_LOG": "warn"})
children.append(onair)

hls_dir = f"{run}/hls"
os.makedirs(hls_dir)
for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
    os.makedirs(f"{run}/tmp/{d}")
conf = f"""load_module {module};
daemon off;
master_process off;
error_log {run}/nginx-error.log warn;
pid {run}/nginx.pid;
events {{ worker_connections 256; }}
rtmp {{
  server {{
    listen 127.0.0.1:{n_rtmp};
    chunk_size 4096;
    application live {{
      live on;
      hls on;
      hls_path {hls_dir};
      hls_fragment 2s;
      hls_playlist_length 2000s;
    }}
  }}
}}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 120s;
  keepalive_requests 100000000;
  client_body_temp_path {run}/tmp/body;
  proxy_temp_path {run}/tmp/proxy;
  fastcgi_temp_path {run}/tmp/fastcgi;
  uwsgi_temp_path {run}/tmp/uwsgi;
  scgi_temp_path {run}/tmp/scgi;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
  server {{
    listen 127.0.0.1:{n_http};
    location /hls {{ root {run}; }}
  }}
}}
"""
with open(f"{run}/nginx.conf", "w") as f:
    f.write(conf)
nginx = subprocess.Popen(
    ["nginx", "-p", f"{run}/", "-e", f"{run}/nginx-error.log", "-c", f"{run}/nginx.conf"],
    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
children.append(nginx)
for port, proc, what in ((o_rtmp, onair, "onair"), (o_http, onair, "onair"),
                         (n_rtmp, nginx, "nginx"), (n_http, nginx, "nginx")):
    wait_port(port, proc, what)

servers = {
    "onair": dict(proc=onair, rtmp=o_rtmp,
                  playlist=lambda k: f"http://127.0.0.1:{o_http}/live/{k}/index.m3u8"),
    "nginx": dict(proc=nginx, rtmp=n_rtmp,
                  playlist=lambda k: f"http://127.0.0.1:{n_http}/hls/{k}.m3u8"),
}

def segments(name, key):
    if name == "nginx":
        with open(f"{hls_dir}/{key}.m3u8") as f:
            return extinf(f.read())
    return extinf(http_get(servers[name]["playlist"](key)))

# --- 1. ingest + packaging ---------------------------------------------------------------
ingest = {n: [] for n in servers}
seg_counts = {n: [] for n in servers}
print(f"1. ingest + HLS packaging: {os.path.basename(inp)} published with ffmpeg -c copy -f flv "
      f"(no -re), {rounds} interleaved rounds", flush=True)
for r in range(rounds):
    order = list(servers)
    random.shuffle(order)
    for name in order:
        s = servers[name]
        pid = s["proc"].pid
        key = f"r{r}"
        wait_idle(pid)
        before = cpu(pid)
        t0 = time.monotonic()
        subprocess.run(["timeout", "120", "ffmpeg", "-v", "error", "-i", inp, "-c", "copy",
                        "-f", "flv", f"rtmp://127.0.0.1:{s['rtmp']}/live/{key}"],
                       check=True, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        wait_idle(pid)
        after = cpu(pid)
        n = segments(name, key)
        ingest[name].append((after[0] - before[0], after[1] - before[1], wall))
        seg_counts[name].append(n)
        print(f"  round {r + 1} {name:5}: {after[0] - before[0]:.4f} s CPU "
              f"(stat ticks {after[1] - before[1]:.2f} s), publish {wall:.2f} s wall, {n} segments",
              flush=True)

# --- 2. segment serving ------------------------------------------------------------------
# One publisher per server that sends the whole file at once and then goes on looping it at
# real time: the stream stays live (onair closes a publisher idle for 30 s and drops its
# stream 30 s later), and gains a segment every 2 s on both servers alike. Needs FFmpeg >= 6.1
# for -readrate_initial_burst: the FFmpeg 9 of imageio-ffmpeg (see scripts/setup.sh).
for name, s in servers.items():
    pub = subprocess.Popen(["timeout", "3600", ffmpeg9, "-v", "error", "-readrate", "1",
                            "-readrate_initial_burst", "60", "-stream_loop", "-1", "-i", inp,
                            "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{s['rtmp']}/live/serve"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    children.append(pub)
want = min(min(v) for v in seg_counts.values()) - 2
for name, s in servers.items():
    end = time.monotonic() + 60
    while True:
        try:
            n = segments(name, "serve")
        except (OSError, ValueError):
            n = 0
        if n >= want:
            break
        if time.monotonic() > end:
            sys.exit(f"{name}: the held stream has {n} segments, want {want}")
        time.sleep(0.3)
for name, s in servers.items():
    wait_idle(s["proc"].pid)

def load_rounds(title, extra):
    res = {n: [] for n in servers}
    print(f"{title}: http_load, {conns} keep-alive connections, {load_secs:g} s per run, "
          f"{rounds} interleaved rounds", flush=True)
    for r in range(rounds):
        order = list(servers)
        random.shuffle(order)
        for name in order:
            s = servers[name]
            pid = s["proc"].pid
            wait_idle(pid)
            before = cpu(pid)
            out = subprocess.run(["timeout", str(int(load_secs) + 30), load_bin,
                                  s["playlist"]("serve"), "--connections", str(conns),
                                  "--seconds", str(load_secs), "--threads", str(load_threads)]
                                 + extra, check=True, capture_output=True, text=True).stdout
            after = cpu(pid)
            kv = dict(re.findall(r"(\w+)=([\d.]+)", out))
            secs, reqs, nbytes = float(kv["seconds"]), int(kv["requests"]), int(kv["bytes"])
            c = after[0] - before[0]
            res[name].append(dict(req_s=reqs / secs, mb_s=nbytes / secs / 1e6, cpu=c,
                                  cpu_per_gb=c / (nbytes / 1e9), us_per_req=c / reqs * 1e6,
                                  segs=int(kv["segments"]), size=nbytes / reqs, util=c / secs))
            print(f"  round {r + 1} {name:5}: {reqs / secs:8.0f} req/s {nbytes / secs / 1e6:8.1f} MB/s, "
                  f"server {c:.3f} s CPU ({c / (nbytes / 1e9):.3f} s/GB, {c / reqs * 1e6:.1f} us/req, "
                  f"{c / secs:.2f} cores), {kv['segments']} segments", flush=True)
    return res

serve = load_rounds("2. serving the held stream's segments", [])
small = load_rounds("3. serving its playlist (small responses: per-request cost)", ["--playlist-only"])
onair_threads = threads(onair.pid)

# --- summary -----------------------------------------------------------------------------
def med(xs):
    return statistics.median(xs)

print()
print(f"summary (medians of {rounds} rounds; per-round ratios nginx / onair)")
print(f"{'':34} {'onair':>10} {'nginx':>10} {'nginx/onair':>12}")
oi, ni = [c for c, _, _ in ingest["onair"]], [c for c, _, _ in ingest["nginx"]]
ratios = [n / o for n, o in zip(ni, oi)]
print(f"{'ingest+package CPU s (60 s input)':34} {med(oi):10.4f} {med(ni):10.4f} {med(ratios):11.2f}x"
      f"  (rounds {min(ratios):.2f}-{max(ratios):.2f}x)")
print(f"{'  per stream-second, ms':34} {med(oi) / 60 * 1e3:10.3f} {med(ni) / 60 * 1e3:10.3f}")
print(f"{'  publish wall s':34} {med([w for _, _, w in ingest['onair']]):10.2f} "
      f"{med([w for _, _, w in ingest['nginx']]):10.2f}")
print(f"{'  segments':34} {'/'.join(map(str, seg_counts['onair'])):>10} "
      f"{'/'.join(map(str, seg_counts['nginx'])):>10}")
for label, key, fmt in (("serving req/s", "req_s", "10.0f"), ("serving MB/s", "mb_s", "10.0f"),
                        ("serving CPU s per GB", "cpu_per_gb", "10.3f"),
                        ("serving CPU cores busy", "util", "10.2f")):
    o = [x[key] for x in serve["onair"]]
    n = [x[key] for x in serve["nginx"]]
    rr = [b / a for a, b in zip(o, n)]
    print(f"{label:34} {med(o):{fmt}} {med(n):{fmt}} {med(rr):11.2f}x"
          f"  (rounds {min(rr):.2f}-{max(rr):.2f}x)")
print(f"{'  segments in playlist, first run':34} {serve['onair'][0]['segs']:10} {serve['nginx'][0]['segs']:10}")
for label, key, fmt in (("playlist req/s", "req_s", "10.0f"),
                        ("playlist CPU us per request", "us_per_req", "10.1f"),
                        ("playlist CPU cores busy", "util", "10.2f")):
    o = [x[key] for x in small["onair"]]
    n = [x[key] for x in small["nginx"]]
    rr = [b / a for a, b in zip(o, n)]
    print(f"{label:34} {med(o):{fmt}} {med(n):{fmt}} {med(rr):11.2f}x"
          f"  (rounds {min(rr):.2f}-{max(rr):.2f}x)")
print(f"{'  playlist bytes':34} {small['onair'][0]['size']:10.0f} {small['nginx'][0]['size']:10.0f}")
print(f"onair server: {onair_threads} threads (tokio multi-thread, {os.cpu_count()} workers on "
      f"{os.cpu_count()} cores, + blocking pool); nginx: 1 process (master_process off); "
      f"load generator: {load_threads} thread(s), same machine")
bad = [n for n, v in seg_counts.items() if min(v) < 28 or max(v) > 32]
if bad or max(seg_counts["onair"] + seg_counts["nginx"]) - min(seg_counts["onair"] + seg_counts["nginx"]) > 1:
    sys.exit(f"segment counts differ from the expected ~30: {seg_counts}")
PY
