// Playback: a camera's recorded spans and gaps on a timeline
// (GET /api/v1/cameras/{id}/recordings); a click plays from there to the
// end of the span through the HLS VOD playlist (vod.m3u8) with hls.js, at a
// chosen speed; a range can be exported as an MP4 clip (clip.mp4).
// Events of the range (GET /api/v1/events?camera=&start=&end=) are marked
// on the timeline; a click on a mark plays from its pre-roll. vigil keeps
// no history of motion that an endpoint exposes (only the present state,
// .../analytics/status), so motion is not marked: events only.
import { useEffect, useRef, useState } from "preact/hooks";
import { cameraPath, enc, get } from "../api.js";
import { CameraSelect, Empty, ErrorText, useCameras, usePoll } from "../components.js";
import { clock, duration, localInput } from "../format.js";
import { html } from "../html.js";
import { navigate } from "../router.js";
import { can } from "../session.js";
import { clipStartMs } from "./events.js";

const WINDOWS = [
  ["1m", "last minute", 60e3],
  ["10m", "last 10 min", 10 * 60e3],
  ["1h", "last hour", 3600e3],
  ["6h", "last 6 hours", 6 * 3600e3],
  ["24h", "last 24 hours", 24 * 3600e3],
];
const SPEEDS = [0.5, 1, 2, 4, 8, 16];
// One playlist covers at most this much, from the chosen point on.
const MAX_PLAY_MS = 3600e3;

function Timeline({ range, spans, events, cursor, selection, onPick, onEvent }) {
  const ref = useRef(null);
  const len = range.end - range.start;
  const pos = (t) => `${((Math.min(Math.max(t, range.start), range.end) - range.start) / len) * 100}%`;
  // Ticks at a round step that gives about six labels.
  const steps = [10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3];
  const step = steps.find((s) => len / s <= 8) || steps[steps.length - 1];
  const ticks = [];
  for (let t = Math.ceil(range.start / step) * step; t < range.end; t += step) ticks.push(t);
  const click = (e) => {
    const r = ref.current.getBoundingClientRect();
    onPick(range.start + ((e.clientX - r.left) / r.width) * len);
  };
  return html`<div class="timeline" ref=${ref} onClick=${click} role="slider" aria-label="recorded time"
      aria-valuemin=${range.start} aria-valuemax=${range.end} aria-valuenow=${cursor || range.start}>
    ${spans.map(
      (s) => html`<div class="span" title=${`${clock(s.start_ms)}–${clock(s.end_ms)} (${duration(s.duration_s)})`}
        style=${`left:${pos(s.start_ms)};width:max(2px, calc(${pos(s.end_ms)} - ${pos(s.start_ms)}))`}></div>`,
    )}
    ${(events || []).slice().reverse().map(
      // Oldest first, so that a newer event is drawn over an older one.
      (ev) => html`<button type="button" class=${`event-mark severity-${ev.severity}${ev.false_positive ? " false-positive" : ""}`}
        data-event=${ev.id} title=${`${ev.label || ev.kind} at ${clock(ev.start_ms)}: play from ${(ev.start_ms - clipStartMs(ev)) / 1000} s before`}
        aria-label=${`event ${ev.label || ev.kind} at ${clock(ev.start_ms)}`}
        style=${`left:min(${pos(ev.start_ms)}, calc(100% - 6px));width:max(6px, calc(${pos(ev.end_ms || range.end)} - ${pos(ev.start_ms)}))`}
        onClick=${(e) => (e.stopPropagation(), onEvent(ev))}></button>`,
    )}
    ${selection && html`<div class="selection" style=${`left:${pos(selection[0])};width:calc(${pos(selection[1])} - ${pos(selection[0])})`}></div>`}
    ${cursor && html`<div class="cursor" style=${`left:${pos(cursor)}`}></div>`}
    ${ticks.map((t) => html`<div class="tick" style=${`left:${pos(t)}`}><span>${clock(t).slice(0, step < 60e3 ? 8 : 5)}</span></div>`)}
  </div>`;
}

function VodPlayer({ src, speed, onTime }) {
  const ref = useRef(null);
  useEffect(() => {
    const video = ref.current;
    let hls = null;
    let stopped = false;
    (async () => {
      const { default: Hls } = await import("hls.js/light");
      if (stopped) return;
      if (Hls.isSupported()) {
        hls = new Hls({ enableWorker: true });
        hls.loadSource(src);
        hls.attachMedia(video);
        hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
        video.ontimeupdate = () => hls.playingDate && onTime(hls.playingDate.getTime());
      } else {
        video.src = src;
        video.play().catch(() => {});
      }
    })();
    return () => {
      stopped = true;
      if (hls) hls.destroy();
      video.ontimeupdate = null;
    };
  }, [src]);
  useEffect(() => {
    // defaultPlaybackRate too: loading a new source resets the rate to it.
    if (ref.current) ref.current.defaultPlaybackRate = ref.current.playbackRate = speed;
  });
  return html`<div class="player"><video ref=${ref} controls playsinline muted data-src=${src}></video></div>`;
}

export function PlaybackPage({ id, query }) {
  const [cameras, camError] = useCameras();
  const allowed = (cameras || []).filter((c) => can("recordings", c.id));
  const camera = id || (allowed[0] && allowed[0].id);
  const atQuery = Number(query.get("at")) || 0;
  // A window that holds ?at= (an hour for a recent one).
  const fits = (w) => !atQuery || Date.now() - atQuery < w[2] * 0.9;
  const [windowKey, setWindowKey] = useState(query.get("window") || (WINDOWS.slice(2).find(fits) || WINDOWS[WINDOWS.length - 1])[0]);
  const [now, setNow] = useState(Date.now());
  const span = WINDOWS.find((w) => w[0] === windowKey)[2];
  const range = { start: now - span, end: now };
  const [rec, recError, reload] = usePoll(
    () => (camera ? get(cameraPath(camera, `/recordings?start=${Math.floor(range.start)}&end=${Math.ceil(range.end)}`)) : Promise.resolve(null)),
    [camera, now, span],
  );
  // The events of the range, when the node has them (a 404 leaves none).
  const [events] = usePoll(
    () => (camera ? get(`/api/v1/events?camera=${enc(camera)}&start=${Math.floor(range.start)}&end=${Math.ceil(range.end)}&limit=500`)
      .then((r) => r.events || []).catch(() => []) : Promise.resolve([])),
    [camera, now, span],
  );
  const [play, setPlay] = useState(null); // [start, end] in ms
  const [cursor, setCursor] = useState(null);
  const [speed, setSpeed] = useState(1);
  const [exportRange, setExportRange] = useState(null);

  const refresh = () => {
    setNow(Date.now());
    reload();
  };
  const spans = (rec && rec.spans) || [];
  const pick = (t) => {
    // A click in a gap plays from the next span.
    const s = spans.find((s) => t < s.end_ms && s.start_ms <= t) || spans.find((s) => s.start_ms > t);
    if (!s) return;
    const start = Math.max(t, s.start_ms);
    const end = Math.min(s.end_ms, start + MAX_PLAY_MS);
    setPlay([start, end]);
    setCursor(start);
    setExportRange([start, Math.min(end, start + 60e3)]);
  };
  useEffect(() => setPlay(null), [camera]);
  // ?at=<ms> (from an event's page) plays from there once the spans are in.
  const at = Number(query.get("at")) || 0;
  useEffect(() => {
    if (at && spans.length && !play) pick(at);
  }, [at, spans.length]);

  if (cameras && !allowed.length)
    return html`<${Empty} title="No recordings">You have no permission to see recordings of any camera.<//>`;
  const vod = play && cameraPath(camera, `/vod.m3u8?start=${Math.floor(play[0])}&end=${Math.ceil(play[1])}`);
  const clip = exportRange && cameraPath(camera, `/clip.mp4?start=${Math.floor(exportRange[0])}&end=${Math.ceil(exportRange[1])}`);
  return html`<section class="playback">
    <div class="toolbar">
      <h2>Playback</h2>
      <${CameraSelect} cameras=${allowed} value=${camera} onChange=${(c) => navigate(`/playback/${encodeURIComponent(c)}`)} />
      <label class="inline">Show
        <select value=${windowKey} onChange=${(e) => (setWindowKey(e.target.value), setNow(Date.now()))} name="window">
          ${WINDOWS.map((w) => html`<option value=${w[0]}>${w[1]}</option>`)}
        </select>
      </label>
      <button type="button" class="secondary" onClick=${refresh}>Refresh</button>
    </div>
    <${ErrorText} error=${camError || recError} />
    ${rec && html`<p class="muted">${spans.length} recorded span${spans.length === 1 ? "" : "s"}, ${duration(rec.recorded_s)} in ${duration(span / 1000)}
      ${events && events.length ? `, ${events.length} event${events.length === 1 ? "" : "s"} marked` : ""}
      ${spans.length ? " · click the timeline to play, an event mark to play from before it" : ""}</p>`}
    ${rec && html`<${Timeline} range=${range} spans=${spans} events=${events} onEvent=${(ev) => pick(clipStartMs(ev))} cursor=${cursor} selection=${exportRange} onPick=${pick} />`}
    ${rec && !spans.length && html`<${Empty} title="Nothing recorded">No recordings of this camera in the ${WINDOWS.find((w) => w[0] === windowKey)[1]}.<//>`}
    ${vod && html`<${VodPlayer} src=${vod} speed=${speed} onTime=${setCursor} />`}
    ${vod && html`<div class="toolbar">
      <span>Playing ${clock(play[0])}–${clock(play[1])}</span>
      <label class="inline">Speed
        <select value=${speed} onChange=${(e) => setSpeed(Number(e.target.value))} name="speed">
          ${SPEEDS.map((s) => html`<option value=${s}>${s}×</option>`)}
        </select>
      </label>
    </div>`}
    ${clip && can("export", camera) && html`<form class="export" onSubmit=${(e) => e.preventDefault()}>
      <label class="inline">Export from<input type="datetime-local" step="1" value=${localInput(exportRange[0])}
        onChange=${(e) => setExportRange([new Date(e.target.value).getTime(), exportRange[1]])} /></label>
      <label class="inline">to<input type="datetime-local" step="1" value=${localInput(exportRange[1])}
        onChange=${(e) => setExportRange([exportRange[0], new Date(e.target.value).getTime()])} /></label>
      <a class="button" href=${clip} download>Export clip (${duration((exportRange[1] - exportRange[0]) / 1000)})</a>
    </form>`}
  </section>`;
}
