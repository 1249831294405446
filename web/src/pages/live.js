// Live: a grid of every camera the user may watch, and one camera large.
import { useState } from "preact/hooks";
import { cameraPath, post } from "../api.js";
import { Empty, ErrorText, StateBadge, useCameras } from "../components.js";
import { html } from "../html.js";
import { LivePlayer } from "../player.js";
import { link } from "../router.js";
import { can } from "../session.js";

export function LiveGrid() {
  const [cameras, error] = useCameras(5000);
  const [columns, setColumns] = useState(localStorage.getItem("vigil.columns") || "auto");
  const setCols = (c) => {
    localStorage.setItem("vigil.columns", c);
    setColumns(c);
  };
  const visible = (cameras || []).filter((c) => can("live", c.id));
  return html`<section>
    <div class="toolbar">
      <h2>Live</h2>
      <label class="inline">Layout
        <select value=${columns} onChange=${(e) => setCols(e.target.value)}>
          <option value="auto">auto</option><option value="1">1</option><option value="2">2×</option>
          <option value="3">3×</option><option value="4">4×</option>
        </select>
      </label>
    </div>
    <${ErrorText} error=${error} />
    ${cameras && !visible.length && html`<${Empty} title="No cameras">You have no live view permission on any camera.<//>`}
    <div class="grid" style=${columns === "auto" ? "" : `grid-template-columns: repeat(${columns}, 1fr)`}>
      ${visible.map(
        (c) => html`<article class="tile" key=${c.id}>
          <a href=${link("live", c.id)} class="tile-title"><span>${c.name || c.id}</span><${StateBadge} state=${c.state} reason=${c.reason} /></a>
          <${LivePlayer} camera=${c.id} />
        </article>`,
      )}
    </div>
  </section>`;
}

// Pan, tilt and zoom of an ONVIF camera: a continuous move while a button
// is held (with a timeout in case the release is lost), stop on release.
function PtzPad({ id }) {
  const [error, setError] = useState("");
  const send = (body) => post(cameraPath(id, "/ptz"), body).then(() => setError("")).catch((e) => setError(e.message));
  const move = (pan, tilt, zoom) => ({
    onPointerDown: (e) => {
      e.preventDefault();
      send({ action: "continuous", pan, tilt, zoom, timeout_ms: 2000 });
    },
    onPointerUp: () => send({ action: "stop" }),
    onPointerLeave: (e) => e.buttons && send({ action: "stop" }),
  });
  return html`<div class="ptz" aria-label="PTZ">
    <button type="button" class="secondary" ...${move(0, 0.5, 0)} aria-label="tilt up">▲</button>
    <button type="button" class="secondary" ...${move(-0.5, 0, 0)} aria-label="pan left">◀</button>
    <button type="button" class="secondary" ...${move(0.5, 0, 0)} aria-label="pan right">▶</button>
    <button type="button" class="secondary" ...${move(0, -0.5, 0)} aria-label="tilt down">▼</button>
    <button type="button" class="secondary" ...${move(0, 0, 0.5)} aria-label="zoom in">＋</button>
    <button type="button" class="secondary" ...${move(0, 0, -0.5)} aria-label="zoom out">－</button>
    ${error && html`<span class="error">${error}</span>`}
  </div>`;
}

export function LiveSingle({ id }) {
  const [cameras, error] = useCameras(5000);
  const cam = (cameras || []).find((c) => c.id === id);
  const [boxes, setBoxes] = useState(true);
  const [audio, setAudio] = useState(false);
  const hasAudio = cam && (cam.tracks || []).some((t) => ["AAC", "OPUS", "aac", "opus"].includes(t.codec));
  if (cameras && !cam) return html`<${Empty} title="No such camera">It does not exist or you may not see it. <a href="#/live">All cameras</a><//>`;
  return html`<section class="single">
    <div class="toolbar">
      <a href="#/live" class="back">← All</a>
      <h2>${cam ? cam.name || cam.id : id}</h2>
      ${cam && html`<${StateBadge} state=${cam.state} reason=${cam.reason} />`}
      <label class="inline"><input type="checkbox" checked=${boxes} onChange=${(e) => setBoxes(e.target.checked)} /> boxes</label>
      ${hasAudio && html`<label class="inline"><input type="checkbox" checked=${audio} onChange=${(e) => setAudio(e.target.checked)} /> sound</label>`}
      ${can("recordings", id) && html`<a class="button" href=${link("playback", id)}>Playback</a>`}
    </div>
    <${ErrorText} error=${error} />
    <${LivePlayer} camera=${id} boxes=${boxes} audio=${audio} />
    ${cam && cam.type === "onvif" && can("ptz", id) && html`<${PtzPad} id=${id} />`}
    ${cam && html`<p class="muted">${(cam.tracks || []).map((t) => (t.width ? `${t.codec} ${t.width}×${t.height}` : t.codec)).join(", ")}
      ${cam.reason ? ` · ${cam.reason}` : ""}</p>`}
  </section>`;
}
