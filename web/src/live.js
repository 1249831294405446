// Live video of one camera in a <video>: fMP4 over WebSocket into Media
// Source Extensions (docs/LIVE.md), with Low-Latency HLS through hls.js
// (lowLatencyMode; or the browser's own HLS) as the fallback when MSE is
// missing, the codec is not playable through MSE, appending fails, or the
// WebSocket cannot be opened. "?live=hls" in the page's URL (before or
// inside the #/ route) forces the fallback, for tests and for comparing.
// Analytics "meta" messages are kept for the box overlay.
//
// Latency over the WebSocket: each fragment starts with a prft box, the
// UTC wall-clock time at which vigil received that fragment's video frame
// from the camera and the frame's decode time. The player keeps the recent
// ones and reports Date.now() minus the arrival of the frame on screen
// (the prft of the last fragment at or before video.currentTime, plus the
// media time played since it): how long ago vigil received the picture
// now shown. That covers vigil's muxing and queueing, the network, the
// browser's buffering and decoding, but not the camera's own share (its
// capture, encoding and sending to vigil), which no timestamp here sees.
// It assumes the browser's clock agrees with the server's (NTP on both;
// the same machine in the tests and benchmarks).
// Without prft (an older server), the fallback maps the camera's media
// clock to arrival times in the browser by the earliest arrival seen (min
// over fragments of arrival − decode time: the frames that came through
// fastest) and reports how long ago, on that mapping, the picture on
// screen arrived: the browser's share only, and an overstatement when no
// fragment came through fast. The server's share is
// vigil_live_latency_seconds on /metrics.
// Over LL-HLS the playlist's EXT-X-PROGRAM-DATE-TIME is the wall clock at
// which vigil received each segment's first frame, so the latency is now
// minus hls.js's playingDate: vigil's muxing, the parts' cadence, the
// playlist round trips and the player's hold-back together.

import { cameraPath } from "./api.js";
import { readFragmentTime, readInit, readProducerTime } from "./mp4.js";

const MS = window.ManagedMediaSource || window.MediaSource;
// Jump to the live edge when playback is further behind than this; between
// CATCH_UP_S and it, play a little faster until caught up (no visible jump).
const MAX_BEHIND_S = 1.0;
const CATCH_UP_S = 0.2;
// Keep this much played video in the SourceBuffer.
const KEEP_S = 10;
// prft entries kept (one per fragment): more than the buffer's frames at
// 25 fps; the oldest go first.
const MAX_REFERENCE_TIMES = 512;

// "?live=hls" (or "live=ll-hls") in the search part or in the hash route's
// query forces LL-HLS.
function forcedHls() {
  const hashQuery = location.hash.includes("?") ? location.hash.slice(location.hash.indexOf("?") + 1) : "";
  const want = new URLSearchParams(location.search).get("live") || new URLSearchParams(hashQuery).get("live");
  return want === "hls" || want === "ll-hls";
}

// Every running session, by camera id, for the browser tests and the
// System page (window.vigilLive).
export const sessions = new Map();
window.vigilLive = sessions;

export class LiveSession {
  constructor(video, camera, { onStatus = () => {}, onMeta = () => {}, audio = false } = {}) {
    this.video = video;
    this.camera = camera;
    this.onStatus = onStatus;
    this.onMeta = onMeta;
    this.audio = audio;
    this.mode = "";
    this.stopped = false;
    this.failures = 0;
    this.stats = { fragments: 0, bytes: 0, skips: 0, latencyMs: null, codec: "", mode: "", resets: 0 };
    this.meta = null;
  }

  start() {
    sessions.set(this.camera, this);
    if (forcedHls()) this.startHls("forced by ?live=hls");
    else if (MS && window.WebSocket) this.startWebSocket();
    else this.startHls(MS ? "this browser has no WebSocket" : "this browser has no Media Source Extensions");
  }

  stop() {
    this.stopped = true;
    if (sessions.get(this.camera) === this) sessions.delete(this.camera);
    clearTimeout(this.retryTimer);
    clearInterval(this.hlsTimer);
    if (this.ws) this.ws.close();
    this.ws = null;
    if (this.hls) this.hls.destroy();
    this.hls = null;
    this.teardownMedia();
  }

  status(state, detail = "") {
    this.state = state;
    this.onStatus(state, detail);
  }

  // ---- fMP4 over WebSocket ----

  startWebSocket() {
    this.mode = this.stats.mode = "mse";
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const query = this.audio ? "" : "?audio=0";
    const ws = new WebSocket(`${proto}://${location.host}${cameraPath(this.camera, "/live.ws")}${query}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    this.status("connecting");
    ws.onopen = () => {
      opened = true;
      this.failures = 0;
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      if (typeof ev.data === "string") this.onText(ev.data);
      else this.onBinary(ev.data);
    };
    ws.onclose = () => {
      if (ws !== this.ws || this.stopped) return;
      this.ws = null;
      this.failures++;
      // A server without the WebSocket route (or a proxy that refuses
      // upgrades) gets HLS after two tries; otherwise reconnect.
      if (!opened && this.failures >= 2) return this.startHls("the live WebSocket is not available");
      this.status("reconnecting");
      this.retryTimer = setTimeout(() => !this.stopped && this.startWebSocket(), Math.min(8000, 1000 * this.failures));
    };
  }

  onText(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    switch (m.type) {
      case "codec":
        this.stats.codec = m.codecs || m.mime;
        if (!MS.isTypeSupported(m.mime)) {
          this.ws.close();
          this.ws = null;
          return this.startHls(`${m.codecs || m.mime} cannot play through MSE here`);
        }
        this.setupMedia(m.mime);
        break;
      case "reset":
        this.stats.resets++;
        this.teardownMedia();
        break;
      case "skip":
        this.stats.skips++;
        this.jumpToEdge = true;
        break;
      case "end":
        this.status("offline", m.reason || "");
        break;
      case "meta":
        this.meta = { at: performance.now(), msg: m };
        this.onMeta(m);
        break;
    }
  }

  setupMedia(mime) {
    this.teardownMedia();
    const ms = new MS();
    this.ms = ms;
    this.queue = [];
    this.track = null;
    this.clockOffset = Infinity;
    this.referenceTimes = []; // {media: s, wallMs}, in media time order
    this.jumpToEdge = true;
    this.video.disableRemotePlayback = true; // ManagedMediaSource wants it
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
    ms.addEventListener("sourceopen", () => {
      if (ms !== this.ms) return;
      try {
        this.sb = ms.addSourceBuffer(mime);
      } catch (e) {
        return this.startHls(`${mime}: ${e.message}`);
      }
      this.sb.mode = "segments";
      this.sb.addEventListener("updateend", () => this.afterAppend());
      this.pump();
    });
  }

  teardownMedia() {
    this.sb = null;
    this.queue = [];
    if (this.ms && this.ms.readyState === "open") {
      try {
        this.ms.endOfStream();
      } catch {
        /* already ended */
      }
    }
    this.ms = null;
    if (this.objectUrl) {
      this.video.removeAttribute("src");
      this.video.load();
      URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = null;
    }
  }

  onBinary(data) {
    if (!this.ms) return; // before a codec message, or after a reset
    if (!this.track) {
      // The first binary message after "codec" is the init segment.
      this.track = readInit(data) || { trackId: 1, timescale: 90000 };
    } else {
      const prft = readProducerTime(data, this.track.trackId);
      if (prft) {
        const refs = this.referenceTimes;
        const media = prft.mediaTime / this.track.timescale;
        // A media time going back (should not happen within one init
        // segment) starts the list afresh rather than unsort it.
        if (refs.length && media < refs[refs.length - 1].media) refs.length = 0;
        refs.push({ media, wallMs: prft.wallMs });
        if (refs.length > MAX_REFERENCE_TIMES) refs.splice(0, refs.length - MAX_REFERENCE_TIMES);
      }
      const t = readFragmentTime(data, this.track.trackId);
      if (t !== null) {
        const arrival = performance.now() / 1000 - t / this.track.timescale;
        if (arrival < this.clockOffset) this.clockOffset = arrival;
      }
      this.stats.fragments++;
    }
    this.stats.bytes += data.byteLength;
    this.queue.push(data);
    this.pump();
  }

  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || !this.queue.length) return;
    try {
      sb.appendBuffer(this.queue.shift());
    } catch (e) {
      if (e.name === "QuotaExceededError") {
        this.queue = [];
        this.trim(true);
      } else {
        this.startHls(`MSE append failed: ${e.message}`);
      }
    }
  }

  afterAppend() {
    const v = this.video, b = v.buffered;
    if (b.length) {
      const edge = b.end(b.length - 1);
      const behind = edge - v.currentTime;
      if (this.jumpToEdge || behind > MAX_BEHIND_S || v.currentTime < b.start(0)) {
        v.currentTime = Math.max(b.start(b.length - 1), edge - 0.05);
        this.jumpToEdge = false;
      }
      v.playbackRate = behind > CATCH_UP_S ? 1.1 : 1;
      if (v.paused) v.play().catch(() => {});
      if (this.state !== "playing") this.status("playing");
      this.updateLatency();
    }
    if (!this.trim(false)) this.pump();
  }

  // stats.latencyMs: see the header comment. latencySource says which
  // estimate it is ("prft" or "arrival").
  updateLatency() {
    if (this.mode !== "mse") return; // HLS: hlsLatency()
    const now = this.video.currentTime, refs = this.referenceTimes;
    if (refs && refs.length) {
      // The last fragment at or before the playback position (the frame
      // on screen); the first one when playback is before all of them.
      let i = refs.length - 1;
      while (i > 0 && refs[i].media > now) i--;
      const shownArrivalMs = refs[i].wallMs + (now - refs[i].media) * 1000;
      this.stats.latencyMs = Math.max(0, Date.now() - shownArrivalMs);
      this.stats.latencySource = "prft";
    } else if (this.clockOffset !== Infinity) {
      this.stats.latencyMs = Math.max(0, (performance.now() / 1000 - this.clockOffset - now) * 1000);
      this.stats.latencySource = "arrival";
    }
  }

  // Removes played video older than KEEP_S; true when a removal started
  // (its updateend pumps the queue on).
  trim(all) {
    const sb = this.sb, v = this.video;
    if (!sb || sb.updating || !v.buffered.length) return false;
    const start = v.buffered.start(0), upTo = v.currentTime - (all ? 1 : KEEP_S);
    if (upTo - start < (all ? 0.1 : 5)) return false;
    sb.remove(start, upTo);
    return true;
  }

  // ---- LL-HLS fallback ----

  async startHls(why) {
    // The WebSocket is dropped first (its onclose then sees another socket).
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    clearTimeout(this.retryTimer);
    this.teardownMedia();
    this.mode = this.stats.mode = "hls";
    this.stats.fallbackReason = why;
    this.stats.latencyMs = null;
    this.stats.latencySource = null;
    this.status("connecting", `HLS (${why})`);
    const url = cameraPath(this.camera, "/live.m3u8");
    const { default: Hls } = await import("hls.js/light");
    if (this.stopped) return;
    const v = this.video;
    v.addEventListener("playing", () => this.status("playing"), { once: true });
    if (Hls.isSupported()) {
      // lowLatencyMode: blocking playlist reloads, parts, and a target
      // latency of the playlist's PART-HOLD-BACK (no liveSync* here: they
      // would override it).
      const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, backBufferLength: KEEP_S });
      this.hls = hls;
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        const codec = /Incompatible|codec/i.test(data.details || "");
        if (codec) return this.status("error", `this browser cannot play ${this.stats.codec || "this codec"}`);
        // A camera that went away or a node that restarted: try again a
        // little later, as the WebSocket path does; a decoding hiccup once.
        this.stats.resets++;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !this.hlsMediaRecovered) {
          this.hlsMediaRecovered = true;
          return hls.recoverMediaError();
        }
        this.status("reconnecting", `HLS: ${data.details}`);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => !this.stopped && this.hls === hls && hls.startLoad(), 2000);
      });
      hls.on(Hls.Events.LEVEL_UPDATED, (_, data) => {
        const d = data.details;
        this.mode = this.stats.mode = d && d.partTarget > 0 ? "ll-hls" : "hls";
        this.stats.partTarget = d ? d.partTarget : 0;
        this.stats.playlists = (this.stats.playlists || 0) + 1;
      });
      hls.on(Hls.Events.FRAG_BUFFERED, (_, data) => {
        this.stats.fragments++;
        this.stats.bytes += data.frag && data.frag.stats ? data.frag.stats.loaded : 0;
        if (data.part) this.stats.parts = (this.stats.parts || 0) + 1;
        if (this.state === "reconnecting") this.status("playing");
      });
      hls.loadSource(url);
      hls.attachMedia(v);
      hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(() => {}));
      this.hlsTimer = setInterval(() => this.hlsLatency(), 250);
    } else if (v.canPlayType("application/vnd.apple.mpegurl")) {
      v.src = url;
      v.play().catch(() => {});
    } else {
      this.status("error", "this browser can play neither MSE nor HLS");
    }
  }

  // Latency over HLS: the wall clock now minus the program date of the
  // picture on screen; without one, hls.js's distance to the live edge.
  hlsLatency() {
    const hls = this.hls;
    if (!hls || this.video.paused) return;
    const date = hls.playingDate;
    if (date && date.getTime() > 0) {
      this.stats.latencyMs = Math.max(0, Date.now() - date.getTime());
      this.stats.latencySource = "program-date-time";
    } else if (Number.isFinite(hls.latency)) {
      this.stats.latencyMs = hls.latency * 1000;
      this.stats.latencySource = "live-edge";
    }
    if (Number.isFinite(hls.latency)) this.stats.edgeLatencyMs = hls.latency * 1000;
  }
}
