#!/usr/bin/env python3
"""Captures real RTP/RTCP from ffmpeg's RTP muxer into the .rtp container the
unit tests read (tests/unit/test_rtp_*.c).

Container: a sequence of records, each
    u8  channel   (0 = RTP, 1 = RTCP)
    u16 length    (big-endian)
    u8  bytes[length]   one UDP datagram as received
Usage: capture.py OUT.rtp PORT -- ffmpeg args... (the output URL is appended).
"""
import select, socket, subprocess, sys, time

out, port = sys.argv[1], int(sys.argv[2])
args = sys.argv[sys.argv.index("--") + 1:]
socks = []
for p in (port, port + 1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", p))
    socks.append(s)
proc = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error"] + args +
                        ["rtp://127.0.0.1:%d?pkt_size=600" % port])
records = []
deadline = None
while True:
    r, _, _ = select.select(socks, [], [], 0.5)
    for s in r:
        data = s.recv(65536)
        records.append(bytes([socks.index(s)]) + len(data).to_bytes(2, "big") + data)
    if proc.poll() is not None:
        deadline = deadline or time.time() + 0.5
        if time.time() > deadline and not r:
            break
with open(out, "wb") as f:
    f.write(b"".join(records))
print(out, len(records), "datagrams")
