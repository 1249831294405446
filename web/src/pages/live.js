// Live: a grid of every camera the user may watch, and one camera large.
import { useState } from "preact/hooks";
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
    ${cam && html`<p class="muted">${(cam.tracks || []).map((t) => (t.width ? `${t.codec} ${t.width}×${t.height}` : t.codec)).join(", ")}
      ${cam.reason ? ` · ${cam.reason}` : ""}</p>`}
  </section>`;
}
