// Glass-to-glass latency in the browser: a camera that paints the wall
// clock into each frame (bench/glass_source.py: ffmpeg libx264
// -tune zerolatency, 1280x720, 25 fps, 2 Mbit/s) publishes into vigil over
// RTSP (ANNOUNCE/RECORD); headless Chromium (Debian's, driven by
// playwright-core) opens the web app's live view of that camera, and on
// each requestVideoFrameCallback draws the frame to a canvas, reads the
// stamp back and records Date.now() - stamp. The figure covers painting to
// ffmpeg, encoding, the RTSP publish, vigil (ingest, fMP4 mux, WebSocket or
// HLS), the browser's demux, decode and the player's buffering, up to the
// frame being handed to the compositor; not the display's own scan-out.
//
// Before measuring, the reader decodes a clip of known stamps (encoded
// with the same settings) and must get every one exactly.
//
// Over the WebSocket the app estimates its own latency from the fragments'
// prft boxes (web/src/live.js: how long ago vigil received the frame on
// screen, which leaves out the camera's encoding and publishing); the bench
// samples that estimate every 500 ms and at each frame it reads, and
// reports glass-to-glass minus the estimate, frame by frame.
//
// A third mode, rtsp, reads the same stamps from vigil's RTSP restream with
// ffmpeg instead of a browser: the path without the browser's share.
//
// Usage: node bench/glass.mjs [--seconds 30] [--warmup 5] [--modes mse,hls,rtsp]
//   (vigil from build/vigil or VIGIL_BIN, the web app from web/dist)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const SECONDS = Number(args.seconds || 30);
const WARMUP = Number(args.warmup || 5);
const MODES = (args.modes || "mse,hls,rtsp").split(",");
const vigilBin = process.env.VIGIL_BIN || join(root, "build/vigil");
const webRoot = process.env.VG_WEB_ROOT || join(root, "web/dist");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const require = createRequire(join(root, "tests/browser/package.json"));
const { chromium } = require("playwright-core");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

async function waitFor(cond, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if (await cond()) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// The reader, run in the page: the stamp of the frame the video shows now,
// or null when a block is ambiguous or fails its complement (see
// glass_source.py for the layout). Kept as a string to evaluate in pages.
const READER = `
window.glassRead = (video, canvas) => {
  const BITS = 32, W = 1280, BLOCK = W / BITS;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, W, 2 * BLOCK, 0, 0, W, 2 * BLOCK);
  const px = ctx.getImageData(0, 0, W, 2 * BLOCK).data;
  const level = (row, col) => {
    let sum = 0, n = 0;
    const y0 = row * BLOCK + BLOCK / 4, x0 = col * BLOCK + BLOCK / 4;
    for (let y = y0; y < y0 + BLOCK / 2; y++)
      for (let x = x0; x < x0 + BLOCK / 2; x++) {
        const i = (y * W + x) * 4;
        sum += px[i] * 0.299 + px[i + 1] * 0.587 + px[i + 2] * 0.114;
        n++;
      }
    return sum / n;
  };
  let v = 0;
  for (let i = 0; i < BITS; i++) {
    const a = level(0, i), b = level(1, i);
    if (Math.abs(a - b) < 100) return null;
    v = v * 2 + (a > b ? 1 : 0);
  }
  return v;
};
// The full time in ms of a 32-bit stamp: the nearest one at or before now
// (plus a little, for clocks read a hair apart).
window.glassUnwrap = (stamp, now) => {
  const M = 2 ** 32;
  let t = now - (((now % M) - stamp + M) % M);
  if (now - t > M / 2) t += M;
  return t;
};
`;

// Decodes a clip of known stamps in the page; every frame must read back
// exactly its stamp.
async function selfTest(browser, tmp) {
  const stamps = [0, 0xffffffff, 0xa5a5a5a5, 0x5a5a5a5a, 1, 0x80000000, 0x12345678, Date.now() % 2 ** 32];
  const clip = join(tmp, "known.mp4");
  const r = spawnSync("python3", [join(here, "glass_source.py"), "--clip", clip, "--stamps", stamps.join(",")], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("could not encode the self-test clip");
  const page = await browser.newPage();
  try {
    // A made-up origin, served by the page's request interception.
    await page.route("http://glass.test/known.mp4", (r) => r.fulfill({ path: clip, contentType: "video/mp4" }));
    await page.route("http://glass.test/", (r) =>
      r.fulfill({ contentType: "text/html", body: `<video muted playsinline></video><canvas width="1280" height="80"></canvas>` }),
    );
    await page.goto("http://glass.test/");
    await page.evaluate(READER);
    const got = await page.evaluate(async (src) => {
      const video = document.querySelector("video");
      const canvas = document.querySelector("canvas");
      video.src = src;
      await new Promise((res, rej) => {
        video.onloadeddata = res;
        video.onerror = () => rej(new Error("the clip does not load"));
      });
      // Play slowly, reading every frame presented (requestVideoFrameCallback
      // on a paused, seeked video crashes headless Chromium's renderer, and
      // a seek there does not repaint what drawImage sees).
      const out = [window.glassRead(video, canvas)]; // the first frame, shown once loaded
      video.playbackRate = 0.1;
      await new Promise((done) => {
        const onFrame = () => {
          const v = window.glassRead(video, canvas);
          if (out[out.length - 1] !== v) out.push(v);
          if (video.ended) done();
          else video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
        video.onended = () => done();
        video.play();
      });
      return out;
    }, "/known.mp4");
    const ok = got.length === stamps.length && got.every((v, i) => v === stamps[i]);
    const wrapOk = await page.evaluate(() =>
      [
        window.glassUnwrap(Date.now() % 2 ** 32, Date.now()) <= Date.now(),
        window.glassUnwrap(5, 2 ** 32 * 400 + 10) === 2 ** 32 * 400 + 5,
        window.glassUnwrap(2 ** 32 - 5, 2 ** 32 * 400 + 10) === 2 ** 32 * 400 - 5,
      ].every(Boolean),
    );
    if (!ok || !wrapOk) throw new Error(`self-test: read ${JSON.stringify(got)}, want ${JSON.stringify(stamps)}; unwrap ${wrapOk}`);
    return `${stamps.length} known frames read back exactly`;
  } finally {
    await page.close();
  }
}

// Opens the live view of camera in a fresh page and samples for SECONDS
// after WARMUP; hls: without WebSocket and MSE, so the app falls back to HLS.
async function measure(browser, base, camera, mode) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  try {
    if (mode === "hls")
      await page.addInitScript(() => {
        window.ManagedMediaSource = undefined;
        window.WebSocket = undefined;
      });
    await page.goto(`${base}/#/live/${camera}`);
    const sel = `.player[data-camera="${camera}"] video`;
    await page.waitForSelector(sel, { timeout: 20000 });
    await waitFor(() => page.$eval(sel, (v) => v.currentTime > 0.5), 30000, `${mode} playback`);
    await page.evaluate(READER);
    const appMode = await page.evaluate((c) => window.vigilLive?.get(c)?.stats?.mode, camera);
    await sleep(WARMUP * 1000);
    const result = await page.evaluate(
      async ([sel, ms, camera]) => {
        const video = document.querySelector(sel);
        const canvas = document.createElement("canvas");
        canvas.width = 1280;
        canvas.height = 80;
        const lat = [];
        let unread = 0;
        let callbacks = 0;
        const end = Date.now() + ms;
        // The app's own estimate (web/src/live.js), sampled alongside for
        // comparison: every 500 ms as the status line shows it, and at each
        // frame read (recomputed for that moment) paired with its
        // glass-to-glass figure.
        const appLat = [];
        const frameApp = [], gap = [], oldEstimate = [];
        let appSource = null;
        const sampler = setInterval(() => {
          const l = window.vigilLive?.get(camera)?.stats?.latencyMs;
          if (typeof l === "number") appLat.push(l);
        }, 500);
        await new Promise((done) => {
          const onFrame = () => {
            const now = Date.now();
            callbacks++;
            const stamp = window.glassRead(video, canvas);
            const session = window.vigilLive?.get(camera);
            if (session?.updateLatency) session.updateLatency();
            const app = session?.stats?.latencyMs;
            if (session?.stats?.latencySource) appSource = session.stats.latencySource;
            if (stamp === null) unread++;
            else {
              const glass = now - window.glassUnwrap(stamp, now);
              lat.push(glass);
              if (typeof app === "number") {
                frameApp.push(app);
                gap.push(glass - app);
              }
              // The estimate before prft (the browser's arrival times,
              // mapped by the earliest arrival), which the session still
              // keeps: same frames, for comparison.
              if (session && Number.isFinite(session.clockOffset))
                oldEstimate.push((performance.now() / 1000 - session.clockOffset - video.currentTime) * 1000);
            }
            if (Date.now() < end) video.requestVideoFrameCallback(onFrame);
            else done();
          };
          video.requestVideoFrameCallback(onFrame);
        });
        clearInterval(sampler);
        appLat.sort((a, b) => a - b);
        frameApp.sort((a, b) => a - b);
        gap.sort((a, b) => a - b);
        oldEstimate.sort((a, b) => a - b);
        const mid = (a) => (a.length ? a[a.length >> 1] : null);
        const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {};
        return { lat, unread, callbacks, appLatP50: mid(appLat), appSource, frameAppP50: mid(frameApp), gapP50: mid(gap), gapMin: gap.length ? gap[0] : null, gapMax: gap.length ? gap[gap.length - 1] : null, paired: gap.length, above: gap.filter((g) => g < 0).length, oldP50: mid(oldEstimate), dropped: q.droppedVideoFrames, total: q.totalVideoFrames, size: `${video.videoWidth}x${video.videoHeight}` };
      },
      [sel, SECONDS * 1000, camera],
    );
    await page.screenshot({ path: join(process.env.GLASS_SHOTS || tmpdir(), `glass-${mode}.png`) }).catch(() => {});
    return { mode, appMode, ...result };
  } finally {
    await ctx.close();
  }
}

// The same stamps read without a browser: vigil's RTSP restream decoded by
// ffmpeg (one thread, no input buffering) in glass_source.py --read.
function readRtsp(url) {
  const r = spawnSync("python3", [join(here, "glass_source.py"), "--read", url, "--seconds", String(SECONDS), "--warmup", String(WARMUP)], {
    encoding: "utf8",
    timeout: (SECONDS + WARMUP + 30) * 1000,
  });
  if (r.status !== 0) return { mode: "rtsp", error: `reader exited with ${r.status}: ${r.stderr}` };
  const { lat, unread } = JSON.parse(r.stdout.trim().split("\n").pop());
  return { mode: "rtsp", appMode: "ffmpeg", size: "1280x720", lat, unread, callbacks: lat.length + unread, appLatP50: null };
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const tmp = mkdtempSync(join(tmpdir(), "vigil-glass-"));
const procs = [];
function start(name, argv, env = {}) {
  const fd = openSync(join(tmp, `${name}.log`), "w");
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
  const p = { name, child, exited: false, log: () => readFileSync(join(tmp, `${name}.log`), "utf8") };
  child.on("exit", () => (p.exited = true));
  procs.push(p);
  return p;
}

let browser;
let code = 0;
try {
  const [httpPort, rtspPort] = [await freePort(), await freePort()];
  const config = {
    log_level: "warn",
    http: { port: httpPort, bind: "127.0.0.1", web_root: webRoot },
    rtsp_server: { port: rtspPort, bind: "127.0.0.1" },
    auth: { enabled: false },
    database: { path: join(tmp, "vigil.db") },
  };
  writeFileSync(join(tmp, "vigil.json"), JSON.stringify(config));
  const vigil = start("vigil", [vigilBin, "run", "-c", join(tmp, "vigil.json")]);
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await fetch(`${base}/api/v1/health`)).ok, 20000, "vigil");
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-gpu", "--mute-audio"],
  });
  console.log(`self-test: ${await selfTest(browser, tmp)}`);
  const total = WARMUP + SECONDS + 60;
  const source = start("source", ["python3", join(here, "glass_source.py"), "--url", `rtsp://127.0.0.1:${rtspPort}/glass`,
    "--seconds", String(total * MODES.length)]);
  await waitFor(async () => {
    const r = await fetch(`${base}/api/v1/cameras/glass`);
    return r.ok && (await r.json()).state === "online";
  }, 20000, "the published camera online");
  const load0 = loadavg();
  console.log(`date ${new Date().toISOString()}, load average ${load0.map((x) => x.toFixed(2)).join(" ")}, ${SECONDS} s per mode after ${WARMUP} s warm-up`);
  for (const mode of MODES) {
    const r =
      mode === "rtsp"
        ? readRtsp(`rtsp://127.0.0.1:${rtspPort}/glass`)
        : await measure(browser, base, "glass", mode).catch((e) => ({ mode, error: e.message }));
    if (r.error) {
      console.log(`${mode}: FAILED: ${r.error}`);
      code = 1;
      continue;
    }
    const s = [...r.lat].sort((a, b) => a - b);
    console.log(
      `${mode} (app mode ${r.appMode}, ${r.size}): ${s.length} frames read, ${r.unread} unreadable, ` +
        (r.mode === "rtsp" ? "" : `${r.callbacks} frame callbacks, ${r.dropped ?? "?"} of ${r.total ?? "?"} frames dropped by the player; `) +
        `latency p50 ${quantile(s, 0.5)} ms, p95 ${quantile(s, 0.95)} ms, max ${s[s.length - 1]} ms, min ${s[0]} ms` +
        (r.appLatP50 !== null ? `; the app's own estimate (${r.appSource}): p50 ${r.appLatP50.toFixed(0)} ms every 500 ms` : "") +
        (r.gapP50 != null
          ? `, p50 ${r.frameAppP50.toFixed(0)} ms at the ${r.paired} frames read; glass-to-glass minus the estimate per frame: ` +
            `p50 ${r.gapP50.toFixed(0)} ms, min ${r.gapMin.toFixed(0)} ms, max ${r.gapMax.toFixed(0)} ms ` +
            `(the estimate above glass-to-glass at ${r.above} frames)` +
            (r.oldP50 != null ? `; the earliest-arrival estimate at the same frames: p50 ${r.oldP50.toFixed(0)} ms` : "")
          : ""),
    );
    if (r.unread) code = 1;
  }
  // vigil's own part for the WebSocket path: frame arrival from the camera
  // to the WebSocket write (cumulative over the run).
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const quant = Object.fromEntries(
    [...metrics.matchAll(/vigil_live_latency_seconds\{quantile="([0-9.]+)"\}\s+(\S+)/g)].map((m) => [m[1], Number(m[2]) * 1000]),
  );
  if (MODES.includes("mse") && Object.keys(quant).length)
    console.log(`vigil's part (arrival to WebSocket write): ${Object.entries(quant).map(([q, v]) => `q${q} ${v.toFixed(2)} ms`).join(", ")}`);
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  if (vigil.exited) throw new Error("vigil exited during the run");
} catch (e) {
  console.log(`glass: ${e.stack || e.message}`);
  for (const p of procs) console.log(`--- ${p.name} log (tail) ---\n${p.log().split("\n").slice(-15).join("\n")}`);
  code = 1;
} finally {
  if (browser) await browser.close();
  for (const p of procs.reverse()) {
    if (!p.exited) p.child.kill("SIGTERM");
    for (let i = 0; i < 50 && !p.exited; i++) await sleep(100);
    if (!p.exited) p.child.kill("SIGKILL");
  }
  if (!process.env.VG_KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
