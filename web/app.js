// Placeholder page until the web app lands: lists cameras and their state,
// refreshed every two seconds. Text goes in with textContent only, since
// names and error reasons come from configuration and from cameras.
"use strict";

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

function describeTracks(tracks) {
  return tracks.map((t) => t.width ? `${t.codec} ${t.width}x${t.height}` : t.codec).join(", ");
}

async function refresh() {
  const error = document.getElementById("error");
  try {
    const [health, list] = await Promise.all([
      fetch("/api/v1/health").then((r) => r.json()),
      fetch("/api/v1/cameras").then((r) => r.json()),
    ]);
    document.getElementById("health").textContent =
      `v${health.version}, ${health.cameras.online}/${health.cameras.total} cameras online`;
    const body = document.querySelector("#cameras tbody");
    body.replaceChildren();
    for (const cam of list.cameras) {
      const row = document.createElement("tr");
      cell(row, cam.name === cam.id ? cam.id : `${cam.name} (${cam.id})`);
      cell(row, cam.type);
      cell(row, cam.state, `state-${cam.state}`);
      cell(row, new Date(cam.state_since).toLocaleString());
      cell(row, cam.reason || "");
      cell(row, describeTracks(cam.tracks));
      cell(row, String(cam.counters.frames));
      body.appendChild(row);
    }
    error.hidden = true;
  } catch (e) {
    error.textContent = `cannot reach vigil: ${e}`;
    error.hidden = false;
  }
}

refresh();
setInterval(refresh, 2000);
