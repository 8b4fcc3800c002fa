#!/usr/bin/env python3
"""Count the messages of one direction of a captured RTMP session, independently of the Rust
crate: `python3 count_media.py FILE.bin`. Skips the 3073 handshake bytes, reassembles chunks
(formats 0-3, Set Chunk Size, extended timestamps) and prints counts per message type, with
video split by AVC packet type and audio by AAC packet type, and the data message names."""
import struct
import sys
from collections import Counter


def main(path):
    data = open(path, "rb").read()[3073:]
    pos, chunk_size = 0, 128
    state = {}  # csid -> dict(ts, delta, length, type, sid, buf, ext)
    counts = Counter()
    while True:
        if pos >= len(data):
            break
        b0 = data[pos]
        fmt, csid = b0 >> 6, b0 & 0x3F
        hdr = 1
        if csid == 0:
            if pos + 2 > len(data):
                break
            csid, hdr = 64 + data[pos + 1], 2
        elif csid == 1:
            if pos + 3 > len(data):
                break
            csid, hdr = 64 + data[pos + 1] + 256 * data[pos + 2], 3
        st = state.setdefault(csid, dict(ts=0, delta=0, length=0, type=0, sid=0, buf=b"", ext=False))
        mh = {0: 11, 1: 7, 2: 3, 3: 0}[fmt]
        p = pos + hdr
        if p + mh > len(data):
            break
        raw_ts = None
        if fmt <= 2:
            raw_ts = int.from_bytes(data[p:p + 3], "big")
        if fmt <= 1:
            st["length"] = int.from_bytes(data[p + 3:p + 6], "big")
            st["type"] = data[p + 6]
        if fmt == 0:
            st["sid"] = struct.unpack("<I", data[p + 7:p + 11])[0]
        p += mh
        if raw_ts is not None:
            st["ext"] = raw_ts == 0xFFFFFF
        if st["ext"]:
            if p + 4 > len(data):
                break
            ext = int.from_bytes(data[p:p + 4], "big")
            p += 4
            if raw_ts is not None:
                raw_ts = ext
        new_message = st["buf"] == b""
        if fmt == 0:
            st["ts"] = raw_ts
        elif fmt in (1, 2):
            st["delta"] = raw_ts
            st["ts"] += raw_ts
        elif new_message:
            st["ts"] += st["delta"]
        need = min(chunk_size, st["length"] - len(st["buf"]))
        if p + need > len(data):
            break
        st["buf"] += data[p:p + need]
        pos = p + need
        if len(st["buf"]) < st["length"]:
            continue
        body, st["buf"] = st["buf"], b""
        t = st["type"]
        counts["type %d" % t] += 1
        if t == 1:
            chunk_size = int.from_bytes(body[:4], "big") & 0x7FFFFFFF
        elif t == 4 and len(body) >= 2:
            counts["user control event %d" % int.from_bytes(body[:2], "big")] += 1
        elif t == 9 and len(body) >= 2:
            counts["video avc packet type %d" % body[1]] += 1
        elif t == 8 and len(body) >= 2:
            counts["audio aac packet type %d" % body[1]] += 1
        elif t == 18 and len(body) >= 3 and body[0] == 2:
            n = int.from_bytes(body[1:3], "big")
            counts["data %s" % body[3:3 + n].decode("latin-1")] += 1
        elif t == 20 and len(body) >= 3 and body[0] == 2:
            n = int.from_bytes(body[1:3], "big")
            counts["command %s" % body[3:3 + n].decode("latin-1")] += 1
            if VERBOSE:
                tx = struct.unpack(">d", body[4 + n:12 + n])[0] if len(body) >= 12 + n else None
                print("command %s tx=%s stream=%d csid=%d" % (body[3:3 + n].decode("latin-1"), tx, st["sid"], csid))
    for k in sorted(counts):
        print("%s: %d" % (k, counts[k]))
    print("unparsed tail bytes: %d" % (len(data) - pos))


VERBOSE = "-v" in sys.argv[2:]

if __name__ == "__main__":
    main(sys.argv[1])
