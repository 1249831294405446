// Configuration of cameras: the list, and a form that adds or edits one
// (POST /api/v1/cameras, PATCH /api/v1/cameras/{id}, DELETE) with a probe
// of the URL before saving (POST /api/v1/cameras/probe for stream URLs,
// POST /api/v1/onvif/probe for ONVIF devices). Credentials travel inside
// the URL (user:password@), are sealed at rest by vigil and never shown:
// the API returns URLs without them, and a URL sent back as shown keeps
// the stored ones. Cameras of the configuration file are read-only here.
import { useEffect, useState } from "preact/hooks";
import { cameraPath, del, get, patch, post } from "../api.js";
import { Empty, ErrorText, StateBadge, useCameras } from "../components.js";
import { html } from "../html.js";
import { link, navigate } from "../router.js";
import { isAdmin } from "../session.js";

// The URL with user and password put in (percent-encoded), when given.
export function withCredentials(url, user, password) {
  if (!user) return url;
  try {
    const u = new URL(url);
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(password || "");
    return u.toString();
  } catch {
    return url;
  }
}

export const readOnly = (c) => c && c.origin === "file";

const TYPES = [
  ["rtsp", "RTSP"],
  ["onvif", "ONVIF device"],
  ["rtmp", "RTMP (pull)"],
  ["srt", "SRT (caller)"],
  ["snapshot", "HTTP snapshots"],
  ["mjpeg", "HTTP MJPEG"],
];

// Export (GET /api/v1/config, secrets left out) and import
// (POST /api/v1/config: all cameras valid or nothing changes).
function ConfigTransfer({ onImported }) {
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const importFile = async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    setError(null);
    setResult(null);
    try {
      const r = await post("/api/v1/config", JSON.parse(await file.text()));
      setResult(r);
      onImported();
    } catch (err) {
      setError(err instanceof SyntaxError ? new Error(`${file.name} is not JSON: ${err.message}`) : err);
    }
  };
  return html`<div class="transfer">
    <a class="button secondary" href="/api/v1/config" download="vigil-config.json">Export configuration</a>
    <label class="button secondary">Import cameras…<input type="file" accept="application/json,.json" hidden onChange=${importFile} /></label>
    ${result && html`<span class="ok">Imported: ${JSON.stringify(result).slice(0, 200)}</span>`}
    <${ErrorText} error=${error} />
  </div>`;
}

export function CamerasPage() {
  const [cameras, error, reload] = useCameras(5000);
  return html`<section>
    <div class="toolbar">
      <h2>Cameras</h2>
      ${isAdmin() && html`<a class="button" href="#/config/cameras/new">Add camera</a>`}
      ${isAdmin() && html`<${ConfigTransfer} onImported=${() => reload()} />`}
    </div>
    <${ErrorText} error=${error} />
    ${cameras && !cameras.length && html`<${Empty} title="No cameras">Add one with "Add camera".<//>`}
    <div class="scroll"><table class="list cameras">
      <thead><tr><th>Camera</th><th>Type</th><th>URL</th><th>State</th><th></th></tr></thead>
      <tbody>${(cameras || []).map(
        (c) => html`<tr key=${c.id} data-camera=${c.id}>
          <td><a href=${link("config", "cameras", c.id)}>${c.name || c.id}</a><div class="muted">${c.id}</div></td>
          <td>${c.type}</td><td class="url">${c.url}</td><td><${StateBadge} state=${c.state} reason=${c.reason} /></td>
          <td class="actions">
            <a href=${link("config", "cameras", c.id, "analytics")}>Zones & tripwires</a>
            <a href=${link("config", "cameras", c.id, "rules")}>Recording & rules</a>
            ${readOnly(c) && html`<span class="muted" title="change it in the configuration file">configuration file</span>`}
            ${isAdmin() && !readOnly(c) && html`<button class="danger small" onClick=${async () => {
              if (!confirm(`Delete camera ${c.id}? Its recordings stay until retention removes them.`)) return;
              try {
                await del(cameraPath(c.id));
                reload();
              } catch (e) {
                alert(e.message);
              }
            }}>Delete</button>`}
          </td>
        </tr>`,
      )}</tbody>
    </table></div>
  </section>`;
}

function ProbeResult({ result }) {
  if (!result) return null;
  if (result.profiles)
    return html`<div class="probe"><strong>${[result.device?.manufacturer, result.device?.model].filter(Boolean).join(" ") || "ONVIF device"}</strong>
      <ul>${result.profiles.map((p) => html`<li>${p.name || p.token}: ${p.encoding} ${p.width}×${p.height} ${p.fps ? `@ ${p.fps} fps` : ""}
        <div class="muted url">${p.stream_uri}</div></li>`)}</ul></div>`;
  const tracks = result.tracks || [];
  return html`<div class="probe" data-ok="1"><strong>Probe succeeded</strong>
    <ul>${tracks.map((t) => html`<li>${t.kind}: ${t.codec}${t.width ? ` ${t.width}×${t.height}` : ""}${t.fps ? ` @ ${t.fps} fps` : ""}${
      t.sample_rate ? ` ${t.sample_rate} Hz${t.channels ? ` ×${t.channels}` : ""}` : ""}</li>`)}</ul>
    ${!tracks.some((t) => t.kind === "audio") && html`<div class="muted">no audio</div>`}</div>`;
}

export function CameraForm({ id }) {
  const editing = id !== undefined;
  const [form, setForm] = useState({ id: "", name: "", type: "rtsp", url: "", username: "", password: "", transport: "tcp", enabled: true, profile: "" });
  const [error, setError] = useState(null);
  const [probe, setProbe] = useState(null);
  const [busy, setBusy] = useState("");
  const [origin, setOrigin] = useState("");
  const locked = origin === "file";
  useEffect(() => {
    if (!editing) return;
    get(cameraPath(id))
      .then((c) => {
        const cfg = c.config || c; // admins get the configuration
        setOrigin(c.origin || "");
        setForm((f) => ({ ...f, ...cfg, name: cfg.name || c.name || "", type: cfg.type || c.type, username: "", password: "",
          transport: cfg.transport || "tcp", enabled: cfg.enabled !== false, profile: cfg.profile || "" }));
      })
      .catch(setError);
  }, [id]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.type === "checkbox" ? e.target.checked : e.target.value });

  // The camera as the API takes it: empty credentials are left out (an
  // edit keeps the stored ones).
  const url = () => withCredentials(form.url, form.username, form.password);
  const body = () => {
    const b = { name: form.name || form.id, type: form.type, url: url(), enabled: form.enabled };
    if (!editing) b.id = form.id;
    if (form.type === "rtsp" || form.type === "onvif") b.transport = form.transport;
    if (form.type === "onvif" && form.profile) b.profile = form.profile;
    return b;
  };

  const runProbe = async () => {
    setBusy("probe");
    setError(null);
    setProbe(null);
    try {
      const creds = { username: form.username || undefined, password: form.password || undefined };
      setProbe(form.type === "onvif"
        ? await post("/api/v1/onvif/probe", { url: form.url, ...creds })
        : await post("/api/v1/cameras/probe", { type: form.type, url: url(), ...(form.type === "rtsp" ? { transport: form.transport } : {}) }));
    } catch (e) {
      setError(e.status === 404 || e.status === 405 ? new Error("This node cannot probe cameras yet.") : e);
    } finally {
      setBusy("");
    }
  };

  const save = async (e) => {
    e.preventDefault();
    setBusy("save");
    setError(null);
    try {
      if (editing) await patch(cameraPath(id), body());
      else await post("/api/v1/cameras", body());
      navigate("/config/cameras");
    } catch (err) {
      setError(err);
    } finally {
      setBusy("");
    }
  };

  return html`<section>
    <div class="toolbar"><a href="#/config/cameras" class="back">← Cameras</a><h2>${editing ? `Camera ${id}` : "Add a camera"}</h2>
      ${editing && html`<a class="button secondary" href=${link("config", "cameras", id, "analytics")}>Zones & tripwires</a>`}
      ${editing && html`<a class="button secondary" href=${link("config", "cameras", id, "rules")}>Recording & rules</a>`}</div>
    ${locked && html`<p class="muted">This camera comes from the configuration file: change it there and restart vigil.</p>`}
    <form class="card form camera-form" onSubmit=${save}>
      <label>Id<input name="id" value=${form.id} onInput=${set("id")} required disabled=${editing} pattern="[A-Za-z0-9_.\\-]{1,63}"
        title="letters, digits, '_', '-' and '.'" /></label>
      <label>Name<input name="name" value=${form.name} onInput=${set("name")} placeholder="as the id" /></label>
      <label>Type<select name="type" value=${form.type} onChange=${set("type")}>${TYPES.map((t) => html`<option value=${t[0]}>${t[1]}</option>`)}</select></label>
      <label>${form.type === "onvif" ? "Device address" : "URL"}<input name="url" value=${form.url} onInput=${set("url")} required
        placeholder=${form.type === "onvif" ? "http://192.168.1.20/onvif/device_service" : "rtsp://192.168.1.20:554/stream1"} /></label>
      <label>User<input name="username" value=${form.username} onInput=${set("username")} autocomplete="off" placeholder=${editing ? "unchanged" : ""} /></label>
      <label>Password<input name="password" type="password" value=${form.password} onInput=${set("password")} autocomplete="new-password"
        placeholder=${editing ? "unchanged" : ""} /></label>
      ${(form.type === "rtsp" || form.type === "onvif") && html`<label>Transport<select name="transport" value=${form.transport} onChange=${set("transport")}>
        <option value="tcp">TCP</option><option value="udp">UDP</option><option value="auto">auto</option></select></label>`}
      ${form.type === "onvif" && probe && probe.profiles && html`<label>Profile<select name="profile" value=${form.profile} onChange=${set("profile")}>
        <option value="">the first</option>${probe.profiles.map((p) => html`<option value=${p.token}>${p.name || p.token}</option>`)}</select></label>`}
      <label class="check"><input type="checkbox" name="enabled" checked=${form.enabled} onChange=${set("enabled")} /> enabled</label>
      <${ErrorText} error=${error} />
      <${ProbeResult} result=${probe} />
      <div class="buttons">
        <button type="button" class="secondary" onClick=${runProbe} disabled=${!form.url || busy}>${busy === "probe" ? "Probing…" : "Probe"}</button>
        ${isAdmin() && !locked && html`<button type="submit" disabled=${busy}>${busy === "save" ? "Saving…" : "Save"}</button>`}
      </div>
    </form>
  </section>`;
}
