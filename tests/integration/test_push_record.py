"""Streams that publishers push in (RTSP ANNOUNCE/RECORD, RTMP, SRT) become
cameras while vigil runs, and are recorded like configured cameras: the
recordings API lists their spans and every segment file plays."""
import glob
import os
import subprocess

from conftest import free_port, http_get_json, wait_for
from test_rtmp import publish as publish_rtmp
from test_srt import ffmpeg_ts


def test_published_streams_are_recorded(vigil_node, start_process, tmp_path):
    root = str(tmp_path / "rec")
    rtmp_port, srt_port = free_port(), free_port()
    proc, http, rtsp = vigil_node({
        "rtsp_server": {"allow_publish": True},
        "rtmp_server": {"enabled": True, "bind": "127.0.0.1", "port": rtmp_port},
        "srt_server": {"enabled": True, "bind": "127.0.0.1", "port": srt_port},
        "record": {"enabled": True, "root": root, "segment_s": 2}})
    start_process(["ffmpeg", "-hide_banner", "-v", "error", "-re", "-f", "lavfi", "-i",
                   "testsrc=size=320x240:rate=25", "-t", "30", "-c:v", "libx264", "-preset", "ultrafast",
                   "-g", "25", "-f", "rtsp", "-rtsp_transport", "tcp", f"rtsp://127.0.0.1:{rtsp}/viartsp"],
                  "ffmpeg-rtsp")
    publish_rtmp(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/viartmp", size="320x240")
    start_process(ffmpeg_ts(audio=False) + [f"srt://127.0.0.1:{srt_port}?streamid=viasrt"], "ffmpeg-srt")

    api = f"http://127.0.0.1:{http}/api/v1"
    for cam in ("viartsp", "viartmp", "viasrt"):
        # Two closed segments: recorded continuously since the publisher came.
        wait_for(lambda: len(http_get_json(f"{api}/cameras/{cam}/recordings")["spans"]) > 0 and
                 len(glob.glob(os.path.join(root, cam, "*", "*", "*", "*", "*.mp4"))) >= 2, 40,
                 what=f"recordings of {cam}")
        span = http_get_json(f"{api}/cameras/{cam}/recordings")["spans"][0]
        # A closed 2 s segment; the publisher's clock may make it a few ms short.
        assert span["end_ms"] - span["start_ms"] >= 1900, span
    proc.stop()
    for cam in ("viartsp", "viartmp", "viasrt"):
        files = sorted(glob.glob(os.path.join(root, cam, "*", "*", "*", "*", "*.mp4")))
        assert files, cam
        for f in files:
            out = subprocess.run(["ffmpeg", "-v", "error", "-i", f, "-f", "null", "-"], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0 and not out.stderr.strip(), (f, out.stderr[-2000:])
