// <LivePlayer camera="id"/>: a camera's live video with its state, a
// latency figure and the analytics boxes drawn over it.
import { useEffect, useRef, useState } from "preact/hooks";
import { drawObjects } from "./boxes.js";
import { html } from "./html.js";
import { LiveSession } from "./live.js";

// Boxes of a meta message stay on screen this long unless replaced.
const META_HOLD_MS = 1000;
// How the stats line names the live transports (live.js's stats.mode).
const MODE_NAMES = { mse: "WebSocket", hls: "HLS", "ll-hls": "LL-HLS" };

export function LivePlayer({ camera, boxes = true, audio = false, children }) {
  const videoRef = useRef(null);
  const canvasRef = useRef(null);
  const [status, setStatus] = useState({ state: "connecting", detail: "" });
  const [latency, setLatency] = useState(null);
  const [mode, setMode] = useState("");
  // Turning the boxes on or off redraws; it does not reconnect.
  const boxesRef = useRef(boxes);
  boxesRef.current = boxes;

  useEffect(() => {
    const video = videoRef.current;
    const session = new LiveSession(video, camera, {
      audio,
      onStatus: (state, detail) => setStatus({ state, detail }),
    });
    session.start();
    let raf = 0;
    const draw = () => {
      const m = session.meta;
      const fresh = boxesRef.current && m && performance.now() - m.at < META_HOLD_MS;
      if (canvasRef.current) drawObjects(canvasRef.current, video, fresh ? m.msg.objects : null);
      raf = requestAnimationFrame(draw);
    };
    raf = requestAnimationFrame(draw);
    const timer = setInterval(() => {
      setLatency(session.stats.latencyMs);
      setMode(session.stats.mode);
    }, 1000);
    return () => {
      cancelAnimationFrame(raf);
      clearInterval(timer);
      session.stop();
    };
  }, [camera, audio]);

  return html`<div class="player" data-camera=${camera} data-state=${status.state}>
    <video ref=${videoRef} muted=${!audio} autoplay playsinline></video>
    <canvas class="overlay" ref=${canvasRef}></canvas>
    <div class="player-status">
      <span class=${`dot state-${status.state}`}></span>${status.state}${status.detail ? `: ${status.detail}` : ""}
      ${mode && status.state === "playing" && html` · <span class="live-mode">${MODE_NAMES[mode] || mode}</span>`}
      ${latency !== null && status.state === "playing" && html` · <span class="latency">${Math.round(latency)} ms</span>`}
    </div>
    ${children}
  </div>`;
}
