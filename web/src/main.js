// vigil's web app: the shell (navigation, session, routes) and the service
// worker that makes it installable. Pages live in pages/.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, post, setUnauthorizedHandler } from "./api.js";
import { html } from "./html.js";
import { AnalyticsEditor } from "./pages/analytics.js";
import { CameraForm, CamerasPage } from "./pages/cameras.js";
import { EventDetail, EventsPage } from "./pages/events.js";
import { LiveGrid, LiveSingle } from "./pages/live.js";
import { LoginPage } from "./pages/login.js";
import { PlaybackPage } from "./pages/playback.js";
import { RulesPage } from "./pages/rules.js";
import { SystemPage } from "./pages/system.js";
import { UsersPage } from "./pages/users.js";
import { navigate, route } from "./router.js";
import { isAdmin, isOperator, user } from "./session.js";
import { useSignal } from "./signal.js";

function Page({ r }) {
  const [a, b, c, d] = r.parts;
  switch (a) {
    case "live":
      return b ? html`<${LiveSingle} key=${b} id=${b} />` : html`<${LiveGrid} />`;
    case "playback":
      return html`<${PlaybackPage} key=${b || ""} id=${b} query=${r.query} />`;
    case "events":
      return b ? html`<${EventDetail} key=${b} id=${b} />` : html`<${EventsPage} />`;
    case "config":
      if (b === "users") return html`<${UsersPage} />`;
      if (b === "cameras" && c === "new") return html`<${CameraForm} key="new" />`;
      if (b === "cameras" && c && d === "rules") return html`<${RulesPage} key=${c} id=${c} />`;
      if (b === "cameras" && c && d === "analytics") return html`<${AnalyticsEditor} key=${c} id=${c} />`;
      if (b === "cameras" && c) return html`<${CameraForm} key=${c} id=${c} />`;
      return html`<${CamerasPage} />`;
    case "system":
      return html`<${SystemPage} />`;
    default:
      return html`<${LiveGrid} />`;
  }
}

function Nav({ r }) {
  const here = r.parts[0] || "live";
  const items = [
    ["live", "Live", "◉"],
    ["playback", "Playback", "▶"],
    ["events", "Events", "⚑"],
    ...(isOperator() ? [["config", "Config", "⚙"]] : []),
    ["system", "System", "♥"],
  ];
  return html`<nav class="nav">${items.map(
    ([k, label, icon]) => html`<a href=${`#/${k}`} class=${here === k ? "active" : ""} data-nav=${k}><span aria-hidden="true">${icon}</span>${label}</a>`,
  )}</nav>`;
}

function ConfigTabs({ r }) {
  if (r.parts[0] !== "config") return null;
  const tab = r.parts[1] || "cameras";
  return html`<div class="tabs">
    <a href="#/config/cameras" class=${tab === "cameras" ? "active" : ""}>Cameras</a>
    ${isAdmin() && html`<a href="#/config/users" class=${tab === "users" ? "active" : ""}>Users</a>`}
  </div>`;
}

function App() {
  const u = useSignal(user);
  const r = useSignal(route);
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    get("/api/v1/me", { quiet401: true })
      .then((me) => (user.value = me.user || me))
      .catch(() => (user.value = null))
      .finally(() => setChecked(true));
  }, []);
  if (!checked) return html`<p class="boot">Loading vigil…</p>`;
  if (!u) return html`<${LoginPage} />`;
  const logout = async () => {
    await post("/api/v1/logout").catch(() => {});
    user.value = null;
    navigate("/live");
  };
  return html`<div class="shell">
    <header class="top">
      <a href="#/live" class="brand"><img src="icon.svg" alt="" width="24" height="24" />vigil</a>
      <${Nav} r=${r} />
      <div class="who"><span class="user-name" title=${u.role}>${u.name}</span>
        <button type="button" class="secondary small" onClick=${logout} data-action="logout">Log out</button></div>
    </header>
    <main class="content"><${ConfigTabs} r=${r} /><${Page} r=${r} /></main>
  </div>`;
}

setUnauthorizedHandler(() => (user.value = null));
render(html`<${App} />`, document.getElementById("app"));

if ("serviceWorker" in navigator && (location.protocol === "https:" || location.hostname === "localhost" || location.hostname === "127.0.0.1"))
  navigator.serviceWorker.register("sw.js").catch(() => {});
