// Events: a filterable list from GET /api/v1/events, with thumbnails and
// links to the snapshot and clip when the node provides them. A node
// without the events module answers 404: the page says so.
import { useState } from "preact/hooks";
import { enc, get } from "../api.js";
import { CameraSelect, Empty, ErrorText, useCameras, usePoll } from "../components.js";
import { dateTime } from "../format.js";
import { html } from "../html.js";

export function EventsPage() {
  const [cameras] = useCameras();
  const [camera, setCamera] = useState("");
  const [kind, setKind] = useState("");
  const q = new URLSearchParams();
  if (camera) q.set("camera", camera);
  if (kind) q.set("type", kind);
  const [events, error] = usePoll(() => get(`/api/v1/events?${q}`), [camera, kind], 10000);
  const unavailable = error && (error.status === 404 || error.status === 501);
  const list = events ? events.events || events.items || (Array.isArray(events) ? events : []) : [];
  return html`<section>
    <div class="toolbar">
      <h2>Events</h2>
      <${CameraSelect} cameras=${[{ id: "", name: "all cameras" }, ...(cameras || [])]} value=${camera} onChange=${setCamera} />
      <label class="inline">Type<input value=${kind} placeholder="any" onChange=${(e) => setKind(e.target.value)} name="type" /></label>
    </div>
    ${unavailable
      ? html`<${Empty} title="Events not available">This vigil node does not record events yet (GET /api/v1/events answers
          ${error.status}). Live view and playback work without them.<//>`
      : html`<${ErrorText} error=${error} />`}
    ${events && !list.length && html`<${Empty} title="No events">Nothing happened that matches the filter.<//>`}
    <ul class="events">
      ${list.map(
        (ev) => html`<li key=${ev.id}>
          ${ev.snapshot_url
            ? html`<img src=${ev.snapshot_url} alt="" loading="lazy" />`
            : ev.id !== undefined && html`<img src=${`/api/v1/events/${enc(ev.id)}/snapshot.jpg`} alt="" loading="lazy" onError=${(e) => (e.target.hidden = true)} />`}
          <div>
            <strong>${ev.type || ev.kind || "event"}</strong> · ${ev.camera}
            <div class="muted">${dateTime(ev.start_ms || ev.time || ev.start)}</div>
            ${ev.clip_url && html`<a href=${ev.clip_url}>clip</a>`}
          </div>
        </li>`,
      )}
    </ul>
  </section>`;
}
