// Events (docs/EVENTS.md, "API"): a filterable, paginated list from
// GET /api/v1/events with thumbnails, kept current by the event stream
// (new events appear at the top of the first page without a reload); one
// event's page with its snapshot and clip, where an operator marks it a
// false positive or retains it; and a form for manual events (operators).
// A node without the events module answers 404: the page says so.
import { useEffect, useState } from "preact/hooks";
import { enc, get, post, put } from "../api.js";
import { CameraSelect, Empty, ErrorText, useCameras } from "../components.js";
import { useEventStream } from "../eventstream.js";
import { clock, dateTime, duration, localInput } from "../format.js";
import { html } from "../html.js";
import { link, navigate } from "../router.js";
import { can, isOperator } from "../session.js";

export const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const PAGE = 20;
// The clip starts this long before the event by default
// (events.pre_capture_s's default). The API gives each event its clip's
// range (clip_start_ms, clip_end_ms) as the node builds it; the default is
// only for an event without them (an older node).
export const PRE_ROLL_MS = 5000;

// Where an event's clip starts, and playback from the event with it.
export function clipStartMs(ev) {
  return Number.isFinite(ev.clip_start_ms) ? ev.clip_start_ms : ev.start_ms - PRE_ROLL_MS;
}

const eventPath = (id, rest = "") => `/api/v1/events/${enc(id)}${rest}`;
const title = (ev) => ev.label || ev.kind || "event";

export function SeverityBadge({ severity }) {
  return html`<span class=${`badge severity-${severity}`}>${severity}</span>`;
}

// Whether an event from the stream belongs in a list with these filters
// (the server applies the same ones to the list itself).
function matches(ev, f) {
  if (f.camera && ev.camera !== f.camera) return false;
  if (f.severity && SEVERITIES.indexOf(ev.severity) < SEVERITIES.indexOf(f.severity)) return false;
  if (f.class && ev.label !== f.class) return false;
  if (f.sensor && ev.sensor !== f.sensor) return false;
  if (f.false_positive && String(!!ev.false_positive) !== f.false_positive) return false;
  if (f.end && ev.start_ms > new Date(f.end).getTime()) return false;
  if (f.q) {
    const text = [ev.label, ev.sensor, ev.kind, ...(ev.labels || [])].join(" ").toLowerCase();
    if (!text.includes(f.q.toLowerCase())) return false;
  }
  return true;
}

function query(f, offset) {
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  for (const k of ["camera", "class", "sensor", "severity", "q", "false_positive"]) if (f[k]) q.set(k, f[k]);
  if (f.start) q.set("start", String(new Date(f.start).getTime()));
  if (f.end) q.set("end", String(new Date(f.end).getTime()));
  return q;
}

function ManualEvent({ cameras, onCreated }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ camera: "", label: "manual", severity: "medium", duration_s: 10 });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!open)
    return html`<button type="button" class="secondary" onClick=${() => setOpen(true)} data-action="manual-event">New event…</button>`;
  const camera = form.camera || (cameras[0] && cameras[0].id) || "";
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const ev = await post("/api/v1/events", { camera, label: form.label || undefined, severity: form.severity,
        duration_s: Number(form.duration_s) || undefined });
      setOpen(false);
      onCreated(ev);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card form manual-event" onSubmit=${submit}>
    <h3>New manual event</h3>
    <${CameraSelect} cameras=${cameras} value=${camera} onChange=${(v) => setForm({ ...form, camera: v })} />
    <label>Label<input name="label" value=${form.label} onInput=${set("label")} maxlength="63" /></label>
    <label>Severity<select name="severity" value=${form.severity} onChange=${set("severity")}>
      ${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
    <label>Lasts (s)<input name="duration_s" type="number" min="1" max="3600" value=${form.duration_s} onInput=${set("duration_s")} /></label>
    <${ErrorText} error=${error} />
    <div class="buttons"><button type="submit" disabled=${busy || !camera}>Create</button>
      <button type="button" class="secondary" onClick=${() => setOpen(false)}>Cancel</button></div>
  </form>`;
}

function EventRow({ ev }) {
  return html`<li key=${ev.id} data-event=${ev.id} class=${ev.false_positive ? "false-positive" : ""}>
    <a href=${link("events", String(ev.id))} class="thumb">
      ${ev.thumbnail_url || ev.snapshot_url
        ? html`<img src=${ev.thumbnail_url || ev.snapshot_url} alt="" loading="lazy" onError=${(e) => (e.target.style.visibility = "hidden")} />`
        : html`<div class="no-picture">${ev.active ? "…" : "no picture"}</div>`}
    </a>
    <div class="event-text">
      <a href=${link("events", String(ev.id))}><strong>${title(ev)}</strong></a> <${SeverityBadge} severity=${ev.severity} />
      ${ev.active && html` <span class="badge live-badge">active</span>`}
      ${ev.false_positive && html` <span class="badge fp-badge">false positive</span>`}
      ${ev.retained && html` <span class="badge">retained</span>`}
      <div>${ev.camera}${ev.sensor ? ` · ${ev.sensor}` : ""}${ev.kind && ev.kind !== ev.label ? ` · ${ev.kind}` : ""}</div>
      <div class="muted">${dateTime(ev.start_ms)}${ev.end_ms ? ` · ${duration((ev.end_ms - ev.start_ms) / 1000)}` : ""}</div>
    </div>
  </li>`;
}

export function EventsPage() {
  const [cameras] = useCameras();
  const [f, setF] = useState({ camera: "", start: "", end: "", class: "", sensor: "", severity: "", q: "", false_positive: "" });
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null); // {events, total}
  const [error, setError] = useState(null);
  const [fresh, setFresh] = useState(0); // events that arrived live
  const [tick, setTick] = useState(0);
  const key = JSON.stringify(f);
  useEffect(() => {
    let live = true;
    get(`/api/v1/events?${query(f, offset)}`)
      .then((r) => live && (setPage({ events: r.events || [], total: r.total || 0 }), setError(null)))
      .catch((e) => live && setError(e));
    return () => (live = false);
  }, [key, offset, tick]);
  useEffect(() => setOffset(0), [key]);

  // Live: a new matching event goes on top of the first page; changes of
  // listed events (snapshot taken, ended, marked) replace them.
  useEventStream((msg) => {
    const ev = msg.after;
    if (!ev) return;
    setPage((p) => {
      if (!p) return p;
      const i = p.events.findIndex((x) => x.id === ev.id);
      const withUrls = { ...p.events[i], ...ev, ...urls(ev) };
      if (i >= 0) return { ...p, events: p.events.map((x, j) => (j === i ? withUrls : x)) };
      if (msg.type !== "new" || offset !== 0 || !matches(ev, f)) return p;
      setFresh((n) => n + 1);
      return { total: p.total + 1, events: [withUrls, ...p.events].slice(0, PAGE) };
    });
  });

  const unavailable = error && (error.status === 404 || error.status === 501);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const list = page ? page.events : [];
  return html`<section class="events-page">
    <div class="toolbar">
      <h2>Events</h2>
      ${page && html`<span class="muted events-total">${page.total} event${page.total === 1 ? "" : "s"}${fresh ? ` · ${fresh} new` : ""}</span>`}
      ${isOperator() && cameras && html`<${ManualEvent} cameras=${cameras} onCreated=${(ev) => navigate(`/events/${ev.id}`)} />`}
    </div>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <${CameraSelect} cameras=${[{ id: "", name: "all cameras" }, ...(cameras || [])]} value=${f.camera} onChange=${(v) => setF({ ...f, camera: v })} />
      <label class="inline">From<input type="datetime-local" step="1" name="start" value=${f.start} onChange=${set("start")} /></label>
      <label class="inline">to<input type="datetime-local" step="1" name="end" value=${f.end} onChange=${set("end")} /></label>
      <label class="inline">Class<input name="class" value=${f.class} placeholder="any" onChange=${set("class")} size="8" /></label>
      <label class="inline">Sensor<input name="sensor" value=${f.sensor} placeholder="any" onChange=${set("sensor")} size="8" /></label>
      <label class="inline">Severity<select name="severity" value=${f.severity} onChange=${set("severity")}>
        <option value="">any</option>${SEVERITIES.map((s) => html`<option value=${s}>${s} or more</option>`)}</select></label>
      <label class="inline">Text<input name="q" type="search" value=${f.q} placeholder="label, sensor…" onChange=${set("q")} size="10" /></label>
      <label class="inline">False positives<select name="false_positive" value=${f.false_positive} onChange=${set("false_positive")}>
        <option value="">shown</option><option value="false">hidden</option><option value="true">only</option></select></label>
    </form>
    ${unavailable
      ? html`<${Empty} title="Events not available">This vigil node does not record events (GET /api/v1/events answers
          ${error.status}). Live view and playback work without them.<//>`
      : html`<${ErrorText} error=${error} />`}
    ${page && !list.length && html`<${Empty} title="No events">Nothing happened that matches the filter.<//>`}
    <ul class="events">${list.map((ev) => html`<${EventRow} key=${ev.id} ev=${ev} />`)}</ul>
    ${page && page.total > PAGE && html`<div class="toolbar pager">
      <button type="button" class="secondary" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>← Newer</button>
      <span class="muted">${offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total}</span>
      <button type="button" class="secondary" disabled=${offset + PAGE >= page.total} onClick=${() => setOffset(offset + PAGE)}>Older →</button>
      <button type="button" class="secondary" onClick=${() => setTick((n) => n + 1)}>Refresh</button>
    </div>`}
  </section>`;
}

// The stream's event objects lack the API's URLs; they follow from the id.
function urls(ev) {
  return {
    url: eventPath(ev.id),
    snapshot_url: ev.snapshot ? eventPath(ev.id, "/snapshot.jpg") : null,
    thumbnail_url: ev.snapshot ? eventPath(ev.id, "/thumbnail.jpg") : null,
    clip_url: eventPath(ev.id, "/clip.mp4"),
  };
}

export function EventDetail({ id }) {
  const [ev, setEv] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState("");
  const [clipKey, setClipKey] = useState(0);
  useEffect(() => {
    get(eventPath(id)).then(setEv).catch(setError);
  }, [id]);
  useEventStream((msg) => {
    const a = msg.after;
    if (!a || String(a.id) !== String(id)) return;
    setEv((old) => {
      // The clip grows until the event ends: reload it then.
      if (old && old.active && !a.active) setClipKey((n) => n + 1);
      return { ...old, ...a, ...urls(a) };
    });
  });
  const act = (what, fn) => async () => {
    setBusy(what);
    setError(null);
    try {
      setEv(await fn());
    } catch (e) {
      setError(e);
    } finally {
      setBusy("");
    }
  };
  if (!ev) return html`<section><a href="#/events" class="back">← Events</a><${ErrorText} error=${error} /></section>`;
  const playFrom = clipStartMs(ev);
  const preS = (ev.start_ms - playFrom) / 1000;
  const after = Number.isFinite(ev.post_capture_s) ? `${ev.post_capture_s} s after` : "after";
  return html`<section class="event-detail" data-event=${ev.id}>
    <div class="toolbar"><a href="#/events" class="back">← Events</a>
      <h2>${title(ev)} <${SeverityBadge} severity=${ev.severity} /></h2>
      ${ev.active && html`<span class="badge live-badge">active</span>`}
      ${ev.false_positive && html`<span class="badge fp-badge">false positive</span>`}
    </div>
    <div class="evidence">
      <figure>
        ${ev.snapshot_url
          ? html`<img class="snapshot" src=${ev.snapshot_url} alt=${`snapshot of event ${ev.id}`} />`
          : html`<div class="no-picture">${ev.active ? "The snapshot is being taken…" : "No snapshot"}</div>`}
        <figcaption class="muted">Snapshot</figcaption>
      </figure>
      ${can("export", ev.camera) && html`<figure>
        <video key=${clipKey} class="clip" src=${`${ev.clip_url || eventPath(ev.id, "/clip.mp4")}${clipKey ? `?v=${clipKey}` : ""}`}
          controls playsinline muted preload="metadata"></video>
        <figcaption class="muted">Clip: <span class="clip-range" data-start=${playFrom}>${preS} s before to ${after} the event</span>
          · <a href=${ev.clip_url || eventPath(ev.id, "/clip.mp4")} download=${`event-${ev.id}.mp4`}>download</a></figcaption>
      </figure>`}
    </div>
    <table class="kv">
      <tr><th>Camera</th><td>${ev.camera}</td></tr>
      <tr><th>Started</th><td>${dateTime(ev.start_ms)}</td></tr>
      <tr><th>Ended</th><td>${ev.end_ms ? `${dateTime(ev.end_ms)} (${duration((ev.end_ms - ev.start_ms) / 1000)})` : "still active"}</td></tr>
      ${ev.sensor && html`<tr><th>Sensor</th><td>${ev.sensor}${ev.direction ? ` (${ev.direction})` : ""}</td></tr>`}
      <tr><th>Kind</th><td>${ev.kind}${ev.manual && ev.kind !== "manual" ? " (manual)" : ""}</td></tr>
      ${ev.best_score > 0 && html`<tr><th>Score</th><td>best ${ev.best_score.toFixed(2)}, median ${ev.median_score.toFixed(2)}</td></tr>`}
      ${ev.triggers > 0 && html`<tr><th>Triggers</th><td>${ev.triggers}</td></tr>`}
      ${ev.labels && ev.labels.length > 0 && html`<tr><th>Labels</th><td>${ev.labels.join(", ")}</td></tr>`}
      <tr><th>False positive</th><td class="fp-state">${ev.false_positive ? "yes" : "no"}</td></tr>
      <tr><th>Retained</th><td class="retain-state">${ev.retained ? "yes, kept past retention" : "no"}</td></tr>
    </table>
    <${ErrorText} error=${error} />
    <div class="buttons">
      ${can("recordings", ev.camera) && html`<a class="button secondary" href=${`#/playback/${enc(ev.camera)}?at=${playFrom}`}>Play from ${clock(playFrom)}</a>`}
      ${isOperator() && html`<button type="button" class="danger" data-action="false-positive" disabled=${ev.false_positive || busy}
        onClick=${act("fp", () => post(eventPath(ev.id, "/false_positive")))}>${ev.false_positive ? "Marked false positive" : "Mark false positive"}</button>`}
      ${isOperator() && html`<label class="check"><input type="checkbox" name="retain" checked=${ev.retained} disabled=${busy}
        onChange=${(e) => act("retain", () => put(eventPath(ev.id, "/retain"), { retain: e.target.checked }))()} /> retain past retention</label>`}
    </div>
    <p class="muted">${localInput(ev.start_ms).replace("T", " ")} · event ${ev.id}</p>
  </section>`;
}
