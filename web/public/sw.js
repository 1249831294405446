// vigil's service worker: just enough for the app to install and to open
// its shell offline. The shell (index, bundle, styles, icon) is cached at
// install under a name that changes with every build; pages are fetched
// from the network first and fall back to the cache. The API, live video
// and recordings are never cached: they go straight to the network.
const CACHE = "vigil-shell-__BUILD__";
const SHELL = ["./", "index.html", "app.js", "style.css", "icon.svg", "manifest.json"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/metrics") return;
  event.respondWith(
    fetch(event.request)
      .then((res) => {
        if (res.ok && (SHELL.includes(url.pathname.slice(1)) || url.pathname.startsWith("/chunks/"))) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return res;
      })
      .catch(() => caches.match(event.request).then((hit) => hit || caches.match("index.html"))),
  );
});
