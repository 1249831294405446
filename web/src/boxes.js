// Draws analytics objects (the live protocol's "meta" messages) on a
// canvas laid over a video. Boxes are normalized to the picture (0..1), so
// they are mapped onto the part of the element the picture fills
// (object-fit: contain leaves bars). Objects are as the analytics pipeline
// writes them ({"track", "class", "label", "score", "box": [x1, y1, x2, y2]});
// a box given as {x, y, w, h} or {x1, y1, x2, y2} is read too.

const COLORS = { person: "#3fb37f", car: "#4f8ff7", truck: "#4f8ff7", bicycle: "#e3b341", dog: "#d86fd8" };

export function normalizeBox(o) {
  const b = o.box || o.bbox || o;
  if (Array.isArray(b) && b.length >= 4) return { x: b[0], y: b[1], w: b[2] - b[0], h: b[3] - b[1] };
  if (b && typeof b === "object") {
    if ("x1" in b) return { x: b.x1, y: b.y1, w: b.x2 - b.x1, h: b.y2 - b.y1 };
    if ("x" in b) return { x: b.x, y: b.y, w: b.w ?? b.width, h: b.h ?? b.height };
    if ("left" in b) return { x: b.left, y: b.top, w: b.width, h: b.height };
  }
  return null;
}

// The rectangle (CSS pixels, relative to the element) the picture fills.
export function pictureRect(video) {
  const W = video.clientWidth, H = video.clientHeight;
  const vw = video.videoWidth || W, vh = video.videoHeight || H;
  const s = Math.min(W / vw, H / vh);
  const w = vw * s, h = vh * s;
  return { x: (W - w) / 2, y: (H - h) / 2, w, h };
}

// Sizes canvas to video and returns its 2D context in CSS pixels.
export function fitCanvas(canvas, video) {
  const dpr = window.devicePixelRatio || 1;
  const W = video.clientWidth, H = video.clientHeight;
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  return ctx;
}

export function drawObjects(canvas, video, objects) {
  const ctx = fitCanvas(canvas, video);
  if (!objects || !objects.length) return;
  const r = pictureRect(video);
  ctx.lineWidth = 2;
  ctx.font = "12px system-ui, sans-serif";
  for (const o of objects) {
    const b = normalizeBox(o);
    if (!b || ![b.x, b.y, b.w, b.h].every(Number.isFinite)) continue;
    const cls = o.class || o.label || "object";
    const color = COLORS[cls] || "#f0883e";
    const x = r.x + b.x * r.w, y = r.y + b.y * r.h, w = b.w * r.w, h = b.h * r.h;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const score = typeof o.score === "number" ? ` ${Math.round(o.score * 100)}%` : "";
    const id = o.track ?? o.id;
    const label = `${cls}${score}${id !== undefined ? ` #${id}` : ""}`;
    const tw = ctx.measureText(label).width + 6;
    ctx.fillStyle = color;
    ctx.fillRect(x, Math.max(0, y - 16), tw, 16);
    ctx.fillStyle = "#000";
    ctx.fillText(label, x + 3, Math.max(12, y - 4));
  }
}
