#!/usr/bin/env python3
"""The glass-to-glass latency benchmark's camera: paints the wall-clock time
into each frame and encodes it live with ffmpeg (libx264, -tune zerolatency),
publishing to an RTSP URL (ANNOUNCE/RECORD) or writing a file.

The stamp is the time in milliseconds since the epoch, modulo 2^32 (it wraps
every 49.7 days; the reader takes the nearest past time with those bits),
painted as two rows of 32 blocks of 40x40 pixels across the top of the
picture: the first row is the 32 bits, most significant first (white = 1),
the second row their complements, so a reader can tell a clean decode from a
damaged one. Large solid blocks survive H.264 at the bitrates used here
unchanged. Below the stamp a diagonal pattern moves, so the encoder has
real work (and motion) in every frame.

The stamp is taken as the frame is handed to ffmpeg, so the latency that a
reader measures includes encoding, the trip to the receiver, and whatever
follows there.

Usage:
  glass_source.py --url rtsp://127.0.0.1:8554/glass [--seconds 60]
  glass_source.py --clip out.mp4 --stamps 0,4294967295,2779096485
      (one frame per stamp, same encoder settings: the decoder's self-test)
  glass_source.py --read rtsp://127.0.0.1:8554/glass --seconds 30 --warmup 5
      (a reader without a browser: ffmpeg decodes the stream, one thread,
      no input buffering; prints the latencies as one JSON line)
"""
import argparse
import subprocess
import sys
import time

WIDTH, HEIGHT, FPS = 1280, 720, 25
BITS = 32
BLOCK = WIDTH // BITS  # 40 pixels
STAMP_ROWS = 2 * BLOCK
BLACK, WHITE = b"\x00", b"\xff"

# The moving pattern: rows of a diagonal ramp, wider than the frame so that
# a slice at a per-frame offset scrolls it.
PATTERN_PERIOD = 256
_pattern_rows = [bytes(((x + y) * 2) % 200 + 28 for x in range(WIDTH + PATTERN_PERIOD))
                 for y in range(PATTERN_PERIOD)]


def stamp_rows(value):
    """The top STAMP_ROWS rows of a frame: the 32 bits, then their complements."""
    bits = [(value >> (BITS - 1 - i)) & 1 for i in range(BITS)]
    data = b"".join((WHITE if b else BLACK) * BLOCK for b in bits)
    check = b"".join((BLACK if b else WHITE) * BLOCK for b in bits)
    return data * BLOCK + check * BLOCK


def frame(value, index):
    shift = (index * 4) % PATTERN_PERIOD
    rows = [_pattern_rows[(y + index) % PATTERN_PERIOD][shift:shift + WIDTH] for y in range(STAMP_ROWS, HEIGHT)]
    return stamp_rows(value) + b"".join(rows)


def decode_stamp(gray, width=WIDTH):
    """The stamp of a decoded gray frame (bytes, width pixels a row), or None
    when any block is ambiguous or fails its complement. The browser's reader
    (bench/glass.mjs) does the same on canvas pixels."""
    def level(row, col):
        total = n = 0
        y0, x0 = row * BLOCK + BLOCK // 4, col * BLOCK + BLOCK // 4
        for y in range(y0, y0 + BLOCK // 2):
            seg = gray[y * width + x0:y * width + x0 + BLOCK // 2]
            total += sum(seg)
            n += len(seg)
        return total / n
    value = 0
    for i in range(BITS):
        a, b = level(0, i), level(1, i)
        if abs(a - b) < 100:
            return None
        value = (value << 1) | (1 if a > b else 0)
    return value


def ffmpeg_args(output, bitrate):
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray",
            "-video_size", f"{WIDTH}x{HEIGHT}", "-framerate", str(FPS), "-i", "-",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", str(2 * FPS),
            "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-pix_fmt", "yuv420p"]
    if output.startswith("rtsp://"):
        return args + ["-rtsp_transport", "tcp", "-f", "rtsp", output]
    return args + ["-movflags", "+faststart", "-y", output]


def publish(url, seconds, bitrate):
    enc = subprocess.Popen(ffmpeg_args(url, bitrate), stdin=subprocess.PIPE)
    start = time.monotonic()
    index = 0
    late = 0
    try:
        while seconds <= 0 or index < seconds * FPS:
            due = start + index / FPS
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.5 / FPS:
                late += 1
            stamp = int(time.time() * 1000) & 0xFFFFFFFF
            enc.stdin.write(frame(stamp, index))
            enc.stdin.flush()
            index += 1
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        try:
            enc.stdin.close()
        except BrokenPipeError:
            pass
        enc.wait()
    print(f"glass_source: {index} frames, {late} painted late", file=sys.stderr)
    return enc.returncode


def clip(path, stamps, bitrate):
    enc = subprocess.Popen(ffmpeg_args(path, bitrate), stdin=subprocess.PIPE)
    for i, s in enumerate(stamps):
        enc.stdin.write(frame(s, i))
    enc.stdin.close()
    return enc.wait()


def read(url, seconds, warmup):
    """now - stamp for each frame ffmpeg decodes from url over seconds after
    warmup; a JSON line with the sorted latencies and unreadable frames."""
    import json
    dec = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                            "-fflags", "nobuffer", "-flags", "low_delay", "-threads", "1", "-i", url,
                            "-f", "rawvideo", "-pix_fmt", "gray", "-"], stdout=subprocess.PIPE)
    size = WIDTH * HEIGHT
    lat, unread = [], 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < warmup + seconds:
            raw = dec.stdout.read(size)
            now = int(time.time() * 1000)
            if len(raw) < size:
                break
            if time.monotonic() - start < warmup:
                continue
            stamp = decode_stamp(raw[:STAMP_ROWS * WIDTH])
            if stamp is None:
                unread += 1
                continue
            # The nearest past time with these 32 bits.
            lat.append((now - stamp) % (1 << 32) if (now - stamp) % (1 << 32) < (1 << 31)
                       else (now - stamp) % (1 << 32) - (1 << 32))
    finally:
        dec.kill()
        dec.wait()
    print(json.dumps({"lat": sorted(lat), "unread": unread}))
    return 0 if lat else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="publish to this rtsp:// URL")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until killed)")
    ap.add_argument("--bitrate", default="2M")
    ap.add_argument("--clip", help="write one frame per --stamps value to this file instead")
    ap.add_argument("--stamps", default="")
    ap.add_argument("--read", help="read stamps from this rtsp:// URL instead")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--check", action="store_true",
                    help="encode and decode known stamps with ffmpeg and check this decoder")
    a = ap.parse_args()
    if a.check:
        stamps = [0, 0xFFFFFFFF, 0xA5A5A5A5, 0x5A5A5A5A, 1, 0x80000000, int(time.time() * 1000) & 0xFFFFFFFF]
        path = "/tmp/glass-check-%d.mp4" % time.monotonic_ns()
        assert clip(path, stamps, a.bitrate) == 0
        raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "rawvideo",
                              "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
        size = WIDTH * HEIGHT
        got = [decode_stamp(raw[i * size:(i + 1) * size]) for i in range(len(raw) // size)]
        print("decoded", got, "expected", stamps)
        return 0 if got == stamps else 1
    if a.read:
        return read(a.read, a.seconds, a.warmup)
    if a.clip:
        return clip(a.clip, [int(s, 0) for s in a.stamps.split(",") if s], a.bitrate)
    if not a.url:
        ap.error("--url, --clip or --check")
    return publish(a.url, a.seconds, a.bitrate)


if __name__ == "__main__":
    sys.exit(main())
