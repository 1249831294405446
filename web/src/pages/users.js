// Users and roles (admins only): GET/POST /api/v1/users,
// PUT/DELETE /api/v1/users/{name}. Permissions are per camera ("*" = every
// camera): live, recordings, export, ptz. Admins hold them all.
import { useState } from "preact/hooks";
import { del, enc, get, post, put } from "../api.js";
import { Empty, ErrorText, useCameras, usePoll } from "../components.js";
import { html } from "../html.js";
import { user as me } from "../session.js";

const PERMS = ["live", "recordings", "export", "ptz"];
const ROLES = ["viewer", "operator", "admin"];

function PermissionTable({ cameras, value, onChange, disabled }) {
  const rows = [{ id: "*", name: "every camera" }, ...(cameras || [])];
  const toggle = (cam, perm) => (e) => {
    const next = { ...value };
    const set = new Set(next[cam] || []);
    e.target.checked ? set.add(perm) : set.delete(perm);
    if (set.size) next[cam] = PERMS.filter((p) => set.has(p));
    else delete next[cam];
    onChange(next);
  };
  return html`<table class="list perms">
    <thead><tr><th>Camera</th>${PERMS.map((p) => html`<th>${p}</th>`)}</tr></thead>
    <tbody>${rows.map((c) => html`<tr key=${c.id}><td>${c.name || c.id}</td>${PERMS.map(
      (p) => html`<td><input type="checkbox" disabled=${disabled} aria-label=${`${p} on ${c.id}`} data-camera=${c.id} data-perm=${p}
        checked=${(value[c.id] || []).includes(p)} onChange=${toggle(c.id, p)} /></td>`,
    )}</tr>`)}</tbody>
  </table>`;
}

function UserForm({ existing, cameras, onDone }) {
  const [name, setName] = useState(existing ? existing.name : "");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState(existing ? existing.role : "viewer");
  const [permissions, setPermissions] = useState(existing ? existing.permissions || {} : {});
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const body = { role, permissions: role === "admin" ? {} : permissions };
      if (password) body.password = password;
      if (existing) await put(`/api/v1/users/${enc(existing.name)}`, body);
      else await post("/api/v1/users", { name, ...body });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return html`<form class="card form user-form" onSubmit=${submit}>
    <h3>${existing ? `Edit ${existing.name}` : "Add a user"}</h3>
    ${!existing && html`<label>Name<input name="name" value=${name} onInput=${(e) => setName(e.target.value)} required /></label>`}
    <label>Password<input name="password" type="password" autocomplete="new-password" value=${password} minlength="8"
      placeholder=${existing ? "unchanged" : "at least 8 characters"} required=${!existing} onInput=${(e) => setPassword(e.target.value)} /></label>
    <label>Role<select name="role" value=${role} onChange=${(e) => setRole(e.target.value)}>${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
    ${role === "admin"
      ? html`<p class="muted">Admins may do everything on every camera.</p>`
      : html`<${PermissionTable} cameras=${cameras} value=${permissions} onChange=${setPermissions} />`}
    <${ErrorText} error=${error} />
    <div class="buttons"><button type="submit">Save</button><button type="button" class="secondary" onClick=${onDone}>Cancel</button></div>
  </form>`;
}

export function UsersPage() {
  const [users, error, reload] = usePoll(() => get("/api/v1/users").then((r) => r.users), []);
  const [cameras] = useCameras();
  const [editing, setEditing] = useState(null); // null, "new" or a user
  const done = () => {
    setEditing(null);
    reload();
  };
  const remove = async (u) => {
    if (!confirm(`Delete user ${u.name}? Their sessions and tokens end.`)) return;
    try {
      await del(`/api/v1/users/${enc(u.name)}`);
      reload();
    } catch (e) {
      alert(e.message);
    }
  };
  if (error && error.status === 403) return html`<${Empty} title="Admins only">Only admins manage users.<//>`;
  return html`<section>
    <div class="toolbar"><h2>Users</h2>${!editing && html`<button type="button" onClick=${() => setEditing("new")}>Add user</button>`}</div>
    <${ErrorText} error=${error} />
    ${editing && html`<${UserForm} key=${editing === "new" ? "new" : editing.name} existing=${editing === "new" ? null : editing}
      cameras=${cameras} onDone=${done} />`}
    <div class="scroll"><table class="list users">
      <thead><tr><th>User</th><th>Role</th><th>Permissions</th><th></th></tr></thead>
      <tbody>${(users || []).map((u) => html`<tr key=${u.name} data-user=${u.name}>
        <td>${u.name}${me.value && me.value.name === u.name ? " (you)" : ""}</td><td>${u.role}</td>
        <td class="muted">${u.role === "admin" ? "everything" : Object.entries(u.permissions || {}).map(([c, p]) => `${c}: ${p.join(", ")}`).join("; ") || "none"}</td>
        <td class="actions"><button type="button" class="secondary small" onClick=${() => setEditing(u)}>Edit</button>
          <button type="button" class="danger small" onClick=${() => remove(u)}>Delete</button></td></tr>`)}</tbody>
    </table></div>
  </section>`;
}
