// System: the node's health (GET /api/v1/health), every camera's state and
// counters, and a few figures from /metrics (operators and admins); for
// admins the recent lines of vigil's process log (GET /api/v1/system/logs,
// followed incrementally) and the audit log (GET /api/v1/audit).
import { useEffect, useRef, useState } from "preact/hooks";
import { enc, get, parseMetrics } from "../api.js";
import { ErrorText, StateBadge, useCameras, usePoll } from "../components.js";
import { bytes, duration } from "../format.js";
import { html } from "../html.js";
import { isAdmin, isOperator } from "../session.js";

const sum = (m, name, pred = () => true) => (m[name] || []).filter((s) => pred(s.labels)).reduce((a, s) => a + s.value, 0);

function MetricsFigures() {
  const [m, error] = usePoll(() => fetch("/metrics", { credentials: "same-origin" }).then((r) => {
    if (!r.ok) throw new Error(`/metrics: HTTP ${r.status}`);
    return r.text().then(parseMetrics);
  }), [], 5000);
  if (error) return html`<${ErrorText} error=${error} />`;
  if (!m) return null;
  const rows = [
    ["HTTP requests", sum(m, "vigil_http_requests_total")],
    ["RTSP sessions", sum(m, "vigil_rtsp_sessions")],
    ["Live viewers (browser)", sum(m, "vigil_live_viewers")],
    ["Frames received", sum(m, "vigil_camera_frames_total")],
    ["Bytes received", bytes(sum(m, "vigil_camera_bytes_total"))],
    ["Recorded bytes", bytes(sum(m, "vigil_record_bytes_total"))],
    ["Recorder drops", sum(m, "vigil_record_dropped_frames_total")],
    ["Analytics frames", sum(m, "vigil_analytics_frames_total")],
  ].filter((r) => r[1] !== 0 && r[1] !== "0 B");
  return html`<table class="kv">${rows.map((r) => html`<tr><th>${r[0]}</th><td>${r[1]}</td></tr>`)}</table>`;
}

// GET /api/v1/system: the process and storage (operators and admins).
function NodeStatus() {
  const [sys, error] = usePoll(() => get("/api/v1/system"), [], 5000);
  if (error) return error.status === 404 ? null : html`<${ErrorText} error=${error} />`;
  if (!sys) return null;
  const p = sys.process || {};
  const roots = (sys.storage && sys.storage.roots) || [];
  return html`<table class="kv node-status">
    ${p.cpu_seconds !== undefined && html`<tr><th>CPU</th><td>${(p.cpu_seconds / Math.max(1, sys.uptime_s) * 100).toFixed(1)} % of one core on average
      (${p.cores || "?"} cores, ${sys.workers ? sys.workers.count : "?"} I/O workers)</td></tr>`}
    ${p.resident_bytes !== undefined && html`<tr><th>Memory</th><td>${bytes(p.resident_bytes)}</td></tr>`}
    ${p.open_fds !== undefined && html`<tr><th>Open files</th><td>${p.open_fds}</td></tr>`}
    ${roots.map((r) => html`<tr><th>Storage ${r.path}</th><td>${bytes(r.used_bytes || 0)} used, ${bytes(r.free_bytes)} free of ${bytes(r.total_bytes)}</td></tr>`)}
    ${!sys.storage && html`<tr><th>Storage</th><td>not recording</td></tr>`}
  </table>`;
}

const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"];
const LOG_KEEP = 1000; // lines the panel keeps; the node keeps 2000
const LOG_EVERY_MS = 2000;

// The process log: the newest lines at the chosen level or more severe,
// then, while auto-refresh is on, only the lines after the newest one seen
// (?since=<last_seq>), appended at the bottom.
function LogPanel() {
  const [level, setLevel] = useState("info");
  const [module, setModule] = useState("");
  const [auto, setAuto] = useState(true);
  const [lines, setLines] = useState([]);
  const [error, setError] = useState(null);
  const [logLevel, setLogLevel] = useState("");
  const cursor = useRef(0);
  const box = useRef(null);

  // A new filter starts over from the newest lines.
  useEffect(() => {
    cursor.current = 0;
    setLines([]);
  }, [level, module]);

  useEffect(() => {
    let live = true;
    let timer = 0;
    const load = () => {
      const since = cursor.current ? `&since=${cursor.current}` : "";
      const mod = module ? `&module=${enc(module)}` : "";
      get(`/api/v1/system/logs?level=${level}${mod}&limit=500${since}`)
        .then((r) => {
          if (!live) return;
          setError(null);
          setLogLevel(r.log_level);
          cursor.current = r.last_seq;
          if (r.lines.length) {
            const el = box.current;
            const atBottom = !el || el.scrollHeight - el.scrollTop - el.clientHeight < 40;
            setLines((old) => old.concat(r.lines).slice(-LOG_KEEP));
            // Follow the log while the reader is at its end.
            if (atBottom) requestAnimationFrame(() => el && (el.scrollTop = el.scrollHeight));
          }
        })
        .catch((e) => live && setError(e))
        .finally(() => live && auto && (timer = setTimeout(load, LOG_EVERY_MS)));
    };
    load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [level, module, auto]);

  if (error && error.status === 404) return html`<p class="muted">This node does not serve its log.</p>`;
  return html`<div class="log-panel">
    <div class="toolbar">
      <label class="inline">Level
        <select name="log-level" value=${level} onChange=${(e) => setLevel(e.target.value)}>
          ${LOG_LEVELS.map((l) => html`<option value=${l}>${l} and more severe</option>`)}
        </select></label>
      <label class="inline">Module
        <input name="log-module" value=${module} placeholder="all" size="10" maxlength="23"
          onChange=${(e) => setModule(e.target.value.trim())} /></label>
      <label class="inline"><input type="checkbox" name="log-auto" checked=${auto}
        onChange=${(e) => setAuto(e.target.checked)} /> Auto-refresh</label>
      ${logLevel && html`<span class="muted">vigil logs at ${logLevel}</span>`}
    </div>
    <${ErrorText} error=${error} />
    <div class="log-lines" ref=${box}>
      ${lines.map((l) => html`<div key=${l.seq} class=${`log-line log-${l.level}`} data-seq=${l.seq}>
        <span class="log-time">${new Date(l.time).toLocaleTimeString()}</span>
        <span class="log-level">${l.level}</span>
        <span class="log-module">${l.module}${l.id ? `[${l.id}]` : ""}</span>
        <span class="log-message">${l.message}</span></div>`)}
      ${!lines.length && html`<p class="muted">No lines.</p>`}
    </div>
  </div>`;
}

// The audit log, newest first, a page at a time (?before= cursor).
function AuditLog() {
  const [pages, setPages] = useState([null]); // the "before" cursor of each page shown
  const before = pages[pages.length - 1];
  const [page, error] = usePoll(() => get(`/api/v1/audit?limit=50${before ? `&before=${before}` : ""}`), [before], before ? 0 : 10000);
  if (error) return error.status === 404 ? html`<p class="muted">This node keeps no audit log.</p>` : html`<${ErrorText} error=${error} />`;
  if (!page) return null;
  const entries = page.entries || [];
  return html`<div class="scroll"><table class="list audit">
      <thead><tr><th>Time</th><th>User</th><th>Action</th><th>Target</th><th>From</th><th>Detail</th></tr></thead>
      <tbody>${entries.map((e) => html`<tr key=${e.id} data-action=${e.action}>
        <td>${new Date(e.time).toLocaleString()}</td><td>${e.user || ""}</td><td>${e.action}</td><td>${e.target || ""}</td>
        <td>${e.peer || ""}</td><td class="detail">${e.detail || ""}</td></tr>`)}</tbody>
    </table></div>
    ${!entries.length && html`<p class="muted">No entries.</p>`}
    <div class="toolbar">
      ${pages.length > 1 && html`<button type="button" class="secondary" onClick=${() => setPages(pages.slice(0, -1))}>← Newer</button>`}
      ${page.next_before && html`<button type="button" class="secondary" onClick=${() => setPages([...pages, page.next_before])}>Older →</button>`}
    </div>`;
}

export function SystemPage() {
  const [health, healthError] = usePoll(() => get("/api/v1/health"), [], 5000);
  const [cameras, camError] = useCameras(5000);
  return html`<section>
    <h2>System</h2>
    <${ErrorText} error=${healthError || camError} />
    ${health && html`<table class="kv">
      <tr><th>Status</th><td class="health-status">${health.status}</td></tr>
      <tr><th>Version</th><td>${health.version}</td></tr>
      <tr><th>Up</th><td>${duration(health.uptime_s)}</td></tr>
      <tr><th>Cameras online</th><td>${health.cameras.online} / ${health.cameras.total}</td></tr>
    </table>`}
    <h3>Cameras</h3>
    <div class="scroll"><table class="list">
      <thead><tr><th>Camera</th><th>State</th><th>Since</th><th>Frames</th><th>Reconnects</th><th>Errors</th><th>Last error</th></tr></thead>
      <tbody>${(cameras || []).map((c) => html`<tr key=${c.id}>
        <td>${c.name || c.id}</td><td><${StateBadge} state=${c.state} reason=${c.reason} /></td>
        <td>${new Date(c.state_since).toLocaleString()}</td><td>${c.counters.frames}</td>
        <td>${c.counters.reconnects}</td><td>${c.counters.errors}</td><td>${c.reason || c.last_error || ""}</td></tr>`)}</tbody>
    </table></div>
    ${isOperator() && html`<h3>Node</h3><${NodeStatus} /><${MetricsFigures} />`}
    ${isAdmin() && html`<h3>Log</h3>
      <p class="muted">vigil's recent log lines (the node keeps the last 2000; the full log is on its stderr or its
        service's journal).</p>
      <${LogPanel} />`}
    ${isAdmin() && html`<h3>Audit log</h3>
      <p class="muted">Logins, configuration changes, exports, user changes and event flags.</p>
      <${AuditLog} />`}
  </section>`;
}
