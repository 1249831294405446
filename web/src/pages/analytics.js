// Zones and tripwires of a camera, drawn over its live picture. Points are
// normalized to the picture (0..1, x right, y down: docs/CONFIG.md,
// "cameras[].analytics"), so one drawing fits every stream of the camera.
// Saving replaces the camera's analytics object
// (PUT /api/v1/cameras/{id}/analytics); its other keys (motion, rules...)
// are sent back as they were. The camera keeps streaming.
import { useEffect, useRef, useState } from "preact/hooks";
import { cameraPath, get, put } from "../api.js";
import { fitCanvas, pictureRect } from "../boxes.js";
import { ErrorText } from "../components.js";
import { html } from "../html.js";
import { LivePlayer } from "../player.js";
import { link } from "../router.js";
import { isAdmin } from "../session.js";

const clamp01 = (v) => Math.min(1, Math.max(0, v));
const round = (v) => Math.round(v * 10000) / 10000;
const ZONE = "#3fb37f", WIRE = "#f0883e", DRAFT = "#e3b341";

function nextId(prefix, items) {
  for (let i = 1; ; i++) if (!items.some((s) => s.id === `${prefix}${i}`)) return `${prefix}${i}`;
}

function draw(canvas, video, zones, wires, draft) {
  const ctx = fitCanvas(canvas, video);
  const r = pictureRect(video);
  const P = ([x, y]) => [r.x + x * r.w, r.y + y * r.h];
  ctx.lineWidth = 2;
  ctx.font = "bold 13px system-ui, sans-serif";
  for (const z of zones) {
    ctx.beginPath();
    z.polygon.forEach((p, i) => (i ? ctx.lineTo(...P(p)) : ctx.moveTo(...P(p))));
    ctx.closePath();
    ctx.fillStyle = "rgba(63,179,127,0.25)";
    ctx.fill();
    ctx.strokeStyle = ZONE;
    ctx.stroke();
    ctx.fillStyle = ZONE;
    ctx.fillText(z.id, ...P(z.polygon[0]));
  }
  for (const w of wires) {
    const [ax, ay] = P(w.a), [bx, by] = P(w.b);
    ctx.strokeStyle = WIRE;
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    ctx.stroke();
    ctx.fillStyle = WIRE;
    ctx.fillText(`${w.id} A`, ax + 4, ay - 4);
    ctx.fillText("B", bx + 4, by - 4);
    // An arrow across the middle shows the direction that counts.
    if (w.direction && w.direction !== "both") {
      const mx = (ax + bx) / 2, my = (ay + by) / 2, len = Math.hypot(bx - ax, by - ay) || 1;
      let nx = -(by - ay) / len, ny = (bx - ax) / len; // the right of A→B on screen
      if (w.direction === "b_to_a") (nx = -nx), (ny = -ny);
      ctx.beginPath();
      ctx.moveTo(mx - nx * 14, my - ny * 14);
      ctx.lineTo(mx + nx * 14, my + ny * 14);
      ctx.lineTo(mx + nx * 8 - ny * 5, my + ny * 8 + nx * 5);
      ctx.stroke();
    }
  }
  if (draft && draft.points.length) {
    ctx.strokeStyle = DRAFT;
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    draft.points.forEach((p, i) => (i ? ctx.lineTo(...P(p)) : ctx.moveTo(...P(p))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = DRAFT;
    for (const p of draft.points) ctx.fillRect(P(p)[0] - 3, P(p)[1] - 3, 6, 6);
  }
}

export function AnalyticsEditor({ id }) {
  const [analytics, setAnalytics] = useState(null);
  const [zones, setZones] = useState([]);
  const [wires, setWires] = useState([]);
  const [tool, setTool] = useState(""); // "", "zone", "tripwire"
  const [draft, setDraft] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  const canvasRef = useRef(null);
  const hostRef = useRef(null);
  const stateRef = useRef({});
  stateRef.current = { zones, wires, draft };

  const [origin, setOrigin] = useState("");
  const canEdit = isAdmin() && origin !== "file";
  // Admins get the camera's configuration, analytics included, with the
  // camera; others read the analytics route (read-only for them).
  const load = () =>
    get(cameraPath(id))
      .then(async (c) => {
        setOrigin(c.origin || "");
        let a = c.config ? c.config.analytics : null;
        if (!c.config) {
          const r = await get(cameraPath(id, "/analytics")).catch(() => ({}));
          a = r.analytics || r.sensors || null;
        }
        a = a || {};
        setAnalytics(a);
        setZones(a.zones || []);
        setWires(a.tripwires || []);
      })
      .catch(setError);
  useEffect(() => {
    load();
  }, [id]);

  useEffect(() => {
    let raf;
    const loop = () => {
      const video = hostRef.current && hostRef.current.querySelector("video");
      if (video && canvasRef.current) {
        const s = stateRef.current;
        draw(canvasRef.current, video, s.zones, s.wires, s.draft);
      }
      raf = requestAnimationFrame(loop);
    };
    raf = requestAnimationFrame(loop);
    return () => cancelAnimationFrame(raf);
  }, []);

  const pointAt = (e) => {
    const video = hostRef.current.querySelector("video");
    const box = canvasRef.current.getBoundingClientRect();
    const r = pictureRect(video);
    return [round(clamp01((e.clientX - box.left - r.x) / r.w)), round(clamp01((e.clientY - box.top - r.y) / r.h))];
  };

  const finishZone = (points) => {
    if (points.length < 3) return;
    setZones([...zones, { id: nextId("zone", zones), polygon: points }]);
    setDraft(null);
    setTool("");
  };

  const click = (e) => {
    if (!tool) return;
    const p = pointAt(e);
    const points = [...(draft ? draft.points : []), p];
    if (tool === "tripwire" && points.length === 2) {
      setWires([...wires, { id: nextId("line", wires), a: points[0], b: points[1], direction: "both" }]);
      setDraft(null);
      setTool("");
      return;
    }
    setDraft({ points });
  };

  const start = (t) => {
    setTool(t);
    setDraft(null);
    setSaved("");
  };

  const save = async () => {
    setError(null);
    setSaved("");
    const next = { ...(analytics || {}), zones, tripwires: wires };
    try {
      await put(cameraPath(id, "/analytics"), next);
      setSaved("Saved; the camera's analytics use it now.");
      load();
    } catch (e) {
      setError(e.status === 404 || e.status === 405 ? new Error(`This node cannot change cameras yet (${e.message}).`) : e);
    }
  };

  const editSensor = (list, setList, i, key) => (e) => setList(list.map((s, j) => (j === i ? { ...s, [key]: e.target.value } : s)));
  const removeSensor = (list, setList, i) => () => setList(list.filter((_, j) => j !== i));

  return html`<section class="analytics">
    <div class="toolbar"><a href=${link("config", "cameras", id)} class="back">← Camera</a><h2>Zones & tripwires: ${id}</h2></div>
    <div class="editor" ref=${hostRef}>
      <${LivePlayer} camera=${id} boxes=${false}>
        <canvas class=${`editor-canvas ${tool ? "drawing" : ""}`} ref=${canvasRef} onClick=${click}
          onDblClick=${() => tool === "zone" && draft && finishZone(draft.points)}></canvas>
      <//>
    </div>
    ${canEdit && html`<div class="toolbar">
      <button type="button" class=${tool === "zone" ? "" : "secondary"} onClick=${() => start("zone")}>Draw zone</button>
      <button type="button" class=${tool === "tripwire" ? "" : "secondary"} onClick=${() => start("tripwire")}>Draw tripwire</button>
      ${tool === "zone" && html`<button type="button" onClick=${() => finishZone(draft ? draft.points : [])}
        disabled=${!draft || draft.points.length < 3}>Finish zone</button>`}
      ${tool && html`<button type="button" class="secondary" onClick=${() => start("")}>Cancel</button>`}
      <span class="muted">${tool === "zone" ? "Click the corners; finish (or double-click) to close." : tool === "tripwire" ? "Click A, then B." : ""}</span>
    </div>`}
    ${origin === "file" && html`<p class="muted">This camera comes from the configuration file: its zones and tripwires are
      changed there (cameras[].analytics).</p>`}
    <div class="sensors">
      <h3>Zones</h3>
      ${!zones.length && html`<p class="muted">None.</p>`}
      ${zones.map((z, i) => html`<div class="sensor zone" key=${i}>
        <input value=${z.id} onChange=${editSensor(zones, setZones, i, "id")} aria-label="zone id" />
        <span class="muted">${z.polygon.length} corners</span>
        <button type="button" class="danger small" onClick=${removeSensor(zones, setZones, i)}>Remove</button></div>`)}
      <h3>Tripwires</h3>
      ${!wires.length && html`<p class="muted">None.</p>`}
      ${wires.map((w, i) => html`<div class="sensor tripwire" key=${i}>
        <input value=${w.id} onChange=${editSensor(wires, setWires, i, "id")} aria-label="tripwire id" />
        <select value=${w.direction || "both"} onChange=${editSensor(wires, setWires, i, "direction")} aria-label="direction">
          <option value="both">both ways</option><option value="a_to_b">A→B side</option><option value="b_to_a">B→A side</option></select>
        <span class="muted">A ${w.a.join(", ")} · B ${w.b.join(", ")}</span>
        <button type="button" class="danger small" onClick=${removeSensor(wires, setWires, i)}>Remove</button></div>`)}
    </div>
    <${ErrorText} error=${error} />
    ${saved && html`<p class="ok" role="status">${saved}</p>`}
    ${canEdit && html`<div class="buttons"><button type="button" onClick=${save} disabled=${!analytics}>Save</button>
      <button type="button" class="secondary" onClick=${load}>Revert</button></div>`}
  </section>`;
}
