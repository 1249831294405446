// A camera's recording settings and its analytics rules with schedules
// (docs/CONFIG.md, "Recording modes and retention" and
// "analytics.rules[]"). Recording goes into the camera's "record" object
// with a JSON merge patch (PATCH /api/v1/cameras/{id}: a field left empty
// is removed, so the node-wide policy applies; "root" and "schedule" are
// left as they are). Rules replace the "rules" of the camera's analytics
// object (PUT /api/v1/cameras/{id}/analytics); zones, tripwires and the
// rest are sent back unchanged. Both apply at once; admins only.
import { useEffect, useState } from "preact/hooks";
import { cameraPath, get, patch, put } from "../api.js";
import { ErrorText } from "../components.js";
import { html } from "../html.js";
import { link } from "../router.js";
import { isAdmin } from "../session.js";

const MODES = [
  ["", "as the node (record.mode)"],
  ["continuous", "continuous: everything"],
  ["events", "events: only around events"],
  ["intelligent", "intelligent: full quality around events, keyframes otherwise"],
  ["off", "off: nothing"],
];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const AGE_KEYS = [["max_age_days", "days"], ["max_age_hours", "hours"], ["max_age_s", "seconds"]];
const localZone = () => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
};
const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function recordForm(rec) {
  const r = rec || {};
  const age = AGE_KEYS.find(([k]) => r[k] !== undefined);
  return {
    mode: r.mode || "",
    pre_roll_s: r.pre_roll_s ?? "",
    post_roll_s: r.post_roll_s ?? "",
    max_age: age ? String(r[age[0]]) : "",
    max_age_unit: age ? age[0] : "max_age_days",
  };
}

// The merge patch of the record object: a key given is set, a key the
// camera has and the form leaves empty is removed (null), others are not
// sent (vigil validates a null it has nothing to remove from).
function recordPatch(f, old) {
  const want = { mode: f.mode || null, pre_roll_s: f.pre_roll_s === "" ? null : Number(f.pre_roll_s),
    post_roll_s: f.post_roll_s === "" ? null : Number(f.post_roll_s) };
  for (const [k] of AGE_KEYS) want[k] = null;
  if (f.max_age !== "") want[f.max_age_unit] = Number(f.max_age);
  const p = {};
  for (const [k, v] of Object.entries(want)) if (v !== null || (old && old[k] !== undefined)) p[k] = v;
  return p;
}

function RecordingSettings({ id, camera, canEdit, onSaved }) {
  const [f, setF] = useState(recordForm(camera.record));
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  useEffect(() => setF(recordForm(camera.record)), [camera]);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    setSaved("");
    try {
      await patch(cameraPath(id), { record: recordPatch(f, camera.record) });
      setSaved("Recording settings saved.");
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return html`<form class="card form recording-form" onSubmit=${save}>
    <h3>Recording</h3>
    <label>Mode<select name="mode" value=${f.mode} onChange=${set("mode")} disabled=${!canEdit}>
      ${MODES.map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select></label>
    <label>Pre-roll (s)<input name="pre_roll_s" type="number" min="0" max="300" value=${f.pre_roll_s} placeholder="node's (5)"
      onInput=${set("pre_roll_s")} disabled=${!canEdit} /></label>
    <label>Post-roll (s)<input name="post_roll_s" type="number" min="0" max="3600" value=${f.post_roll_s} placeholder="node's (5)"
      onInput=${set("post_roll_s")} disabled=${!canEdit} /></label>
    <label>Keep footage for<span class="inline">
      <input name="max_age" type="number" min="1" value=${f.max_age} placeholder="no limit" onInput=${set("max_age")} disabled=${!canEdit} />
      <select name="max_age_unit" value=${f.max_age_unit} onChange=${set("max_age_unit")} disabled=${!canEdit}>
        ${AGE_KEYS.map(([k, t]) => html`<option value=${k}>${t}</option>`)}</select></span></label>
    ${camera.record && camera.record.schedule && camera.record.schedule.length > 0 &&
      html`<p class="muted">This camera also has a recording schedule of ${camera.record.schedule.length} entr${camera.record.schedule.length === 1 ? "y" : "ies"} (kept as it is).</p>`}
    <${ErrorText} error=${error} />
    ${saved && html`<p class="ok" role="status">${saved}</p>`}
    ${canEdit && html`<div class="buttons"><button type="submit">Save recording</button></div>`}
  </form>`;
}

function RangeEditor({ range, onChange, onRemove, disabled }) {
  const days = range.days || DAYS;
  const toggle = (d) => (e) => {
    const next = e.target.checked ? DAYS.filter((x) => x === d || days.includes(x)) : days.filter((x) => x !== d);
    onChange({ ...range, days: next });
  };
  return html`<div class="range">
    <span class="days">${DAYS.map((d) => html`<label class="check"><input type="checkbox" checked=${days.includes(d)}
      onChange=${toggle(d)} disabled=${disabled} aria-label=${d} />${d}</label>`)}</span>
    <label class="inline">from<input type="time" value=${range.start || "00:00"} onInput=${(e) => onChange({ ...range, start: e.target.value })}
      disabled=${disabled} name="range-start" /></label>
    <label class="inline">to<input type="time" value=${range.end === "24:00" || !range.end ? "23:59" : range.end}
      onInput=${(e) => onChange({ ...range, end: e.target.value === "23:59" ? "24:00" : e.target.value })} disabled=${disabled} name="range-end" /></label>
    ${!disabled && html`<button type="button" class="danger small" onClick=${onRemove}>Remove</button>`}
  </div>`;
}

function RuleEditor({ rule, sensors, onChange, onRemove, disabled }) {
  const set = (k, v) => onChange({ ...rule, [k]: v });
  const chosen = rule.sensors || [];
  const sched = rule.schedule;
  const ranges = (sched && sched.ranges) || [];
  return html`<div class="rule" data-rule=${rule.id}>
    <div class="range">
      <label class="inline">Rule<input value=${rule.id} onInput=${(e) => set("id", e.target.value)} aria-label="rule id" name="rule-id" disabled=${disabled} /></label>
      <label class="check"><input type="checkbox" checked=${rule.armed !== false} onChange=${(e) => set("armed", e.target.checked)} disabled=${disabled} name="armed" /> armed</label>
      <label class="inline">Classes<input value=${(rule.classes || []).join(", ")} placeholder="every class" size="14"
        onChange=${(e) => set("classes", list(e.target.value))} disabled=${disabled} name="classes" /></label>
      <label class="inline">Min. score<input type="number" min="0" max="1" step="0.05" value=${rule.min_score ?? ""} placeholder="0"
        onInput=${(e) => set("min_score", e.target.value === "" ? undefined : Number(e.target.value))} disabled=${disabled} name="min_score" /></label>
      ${!disabled && html`<button type="button" class="danger small" onClick=${onRemove}>Remove rule</button>`}
    </div>
    <div class="range">Sensors:
      ${sensors.map((s) => html`<label class="check"><input type="checkbox" checked=${chosen.includes(s)} disabled=${disabled}
        onChange=${(e) => set("sensors", e.target.checked ? [...chosen, s] : chosen.filter((x) => x !== s))} />${s}</label>`)}
      <span class="muted">${chosen.length ? "" : "(none ticked: every sensor)"}</span>
    </div>
    <div class="range">
      <label class="check"><input type="checkbox" checked=${!!sched} disabled=${disabled} name="scheduled"
        onChange=${(e) => set("schedule", e.target.checked ? { tz: localZone(), ranges: [{ days: DAYS.slice(0, 5), start: "22:00", end: "06:00" }] } : undefined)} />
        only at scheduled times</label>
      ${sched && html`<label class="inline">Time zone<input value=${sched.tz || "UTC"} size="16" name="tz" disabled=${disabled}
        onChange=${(e) => set("schedule", { ...sched, tz: e.target.value.trim() || "UTC" })} /></label>`}
    </div>
    ${sched && ranges.map((r, i) => html`<${RangeEditor} key=${i} range=${r} disabled=${disabled}
      onChange=${(nr) => set("schedule", { ...sched, ranges: ranges.map((x, j) => (j === i ? nr : x)) })}
      onRemove=${() => set("schedule", { ...sched, ranges: ranges.filter((_, j) => j !== i) })} />`)}
    ${sched && !disabled && ranges.length < 16 && html`<div><button type="button" class="secondary small"
      onClick=${() => set("schedule", { ...sched, ranges: [...ranges, { days: DAYS, start: "00:00", end: "24:00" }] })}>Add time range</button></div>`}
    ${sched && html`<p class="muted">A range whose end is not after its start runs past midnight into the next day.</p>`}
  </div>`;
}

function Rules({ id, analytics, canEdit, onSaved }) {
  const [rules, setRules] = useState((analytics && analytics.rules) || []);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  useEffect(() => setRules((analytics && analytics.rules) || []), [analytics]);
  const a = analytics || {};
  const sensors = [...(a.zones || []).map((z) => z.id), ...(a.tripwires || []).map((t) => t.id), "tamper"];
  const add = () => {
    let n = 1;
    while (rules.some((r) => r.id === `rule${n}`)) n++;
    setRules([...rules, { id: `rule${n}`, sensors: [], armed: true }]);
  };
  const save = async () => {
    setError(null);
    setSaved("");
    // Empty optional keys are left out rather than sent empty.
    const clean = rules.map((r) => {
      const o = { id: r.id, sensors: r.sensors || [], armed: r.armed !== false };
      if (r.classes && r.classes.length) o.classes = r.classes;
      if (r.min_score !== undefined) o.min_score = r.min_score;
      if (r.min_area !== undefined) o.min_area = r.min_area;
      if (r.schedule) o.schedule = r.schedule;
      return o;
    });
    try {
      await put(cameraPath(id, "/analytics"), { ...a, rules: clean });
      setSaved("Rules saved.");
      onSaved();
    } catch (e) {
      setError(e);
    }
  };
  return html`<div class="card rules">
    <h3>Rules and schedules</h3>
    <p class="muted">A rule arms its sensors (zones, tripwires, tamper) for some classes and, with a schedule, only at some
      times. Every rule that applies to a sensor must allow a trigger. ${!analytics && "This camera has no analytics yet: saving rules turns them on."}</p>
    ${!rules.length && html`<p class="muted">No rules: every sensor triggers at any time.</p>`}
    ${rules.map((r, i) => html`<${RuleEditor} key=${i} rule=${r} sensors=${sensors} disabled=${!canEdit}
      onChange=${(nr) => setRules(rules.map((x, j) => (j === i ? nr : x)))} onRemove=${() => setRules(rules.filter((_, j) => j !== i))} />`)}
    <${ErrorText} error=${error} />
    ${saved && html`<p class="ok" role="status">${saved}</p>`}
    ${canEdit && html`<div class="buttons">
      <button type="button" class="secondary" onClick=${add} disabled=${rules.length >= 16}>Add rule</button>
      <button type="button" onClick=${save} data-action="save-rules">Save rules</button></div>`}
  </div>`;
}

export function RulesPage({ id }) {
  const [camera, setCamera] = useState(null);
  const [error, setError] = useState(null);
  const load = () =>
    get(cameraPath(id))
      .then(setCamera)
      .catch(setError);
  useEffect(() => {
    load();
  }, [id]);
  const cfg = camera && camera.config;
  const canEdit = isAdmin() && camera && camera.origin !== "file";
  return html`<section class="rules-page">
    <div class="toolbar"><a href=${link("config", "cameras", id)} class="back">← Camera</a><h2>Recording & rules: ${id}</h2>
      <a class="button secondary" href=${link("config", "cameras", id, "analytics")}>Zones & tripwires</a></div>
    <${ErrorText} error=${error} />
    ${camera && !cfg && html`<p class="muted">Only admins see and change a camera's configuration.</p>`}
    ${camera && camera.origin === "file" && html`<p class="muted">This camera comes from the configuration file: change these
      settings there (cameras[].record, cameras[].analytics.rules).</p>`}
    ${cfg && html`<${RecordingSettings} id=${id} camera=${cfg} canEdit=${canEdit} onSaved=${load} />`}
    ${cfg && html`<${Rules} id=${id} analytics=${cfg.analytics} canEdit=${canEdit} onSaved=${load} />`}
  </section>`;
}
