// A hash router: "#/live/lobby" is the route "/live/lobby". Hash routes
// need nothing from the server (it serves one index.html) and survive a
// reload and an installed app's start URL.
import { signal } from "./signal.js";

function current() {
  const h = location.hash.replace(/^#/, "") || "/live";
  const [path, query = ""] = h.split("?");
  return { path, parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

export const route = signal(current());
window.addEventListener("hashchange", () => (route.value = current()));

export function navigate(path) {
  if (location.hash !== `#${path}`) location.hash = path;
  else route.value = current();
}

export const link = (...parts) => "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
