// The browser tests' harness: starts simulated cameras (vigil camsim) and a
// vigil node on free loopback ports with recording and auth on, drives
// Debian's Chromium through playwright-core (no browser download), runs the
// cases in order and saves a screenshot per step under the build
// directory. Processes it starts are stopped at the end, whatever happens.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const sourceDir = resolve(here, "../..");
export const vigilBin = process.env.VIGIL_BIN || join(sourceDir, "build/vigil");
export const shotsDir = process.env.VG_SCREENSHOTS || join(sourceDir, "build/browser-screenshots");
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
export const webRoot = process.env.VG_WEB_ROOT || join(sourceDir, "web/dist");
const SANITIZED = ["ON", "1", "TRUE"].includes(String(process.env.VG_SANITIZE || "").toUpperCase());
export const SLOW = SANITIZED ? 3 : 1;
export const ADMIN_PASSWORD = "browser-test-admin";
// The detector's models (scripts/setup-models.sh); without them the node
// runs no analytics and the cases that need it skip.
export const modelsDir = [process.env.VIGIL_MODELS, join(sourceDir, "models")].find((d) => d && existsSync(join(d, "nanodet.json")));
export const scenesDir = join(sourceDir, "tests/data/analytics");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Ports for the servers a case starts, drawn from a range of the harness's
// own: below the kernel's ephemeral range (so no outgoing connection takes
// one before the server binds it) and above the range the Python tests claim
// (tests/integration/conftest.py, 30000-32299), so the browser suite and a
// pytest run beside it never draw the same port. A port is handed out once.
const PORT_LO = 32300, PORT_HI = 32768;
const handedOut = new Set();

const bindable = (port) =>
  new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });

// n consecutive ports free on 127.0.0.1 (camsim's --onvif-port takes one
// per camera).
export async function freePortRun(n) {
  for (let tries = 0; tries < 200; tries++) {
    const base = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO - n));
    let ok = true;
    for (let p = base; ok && p < base + n; p++) ok = !handedOut.has(p) && (await bindable(p));
    if (ok) {
      for (let p = base; p < base + n; p++) handedOut.add(p);
      return base;
    }
  }
  throw new Error(`no run of ${n} free ports in ${PORT_LO}-${PORT_HI}`);
}

export const freePort = () => freePortRun(1);

export async function waitFor(cond, { timeout = 10000, interval = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeout * SLOW;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

class Proc {
  constructor(name, args, env, tmp) {
    this.logPath = join(tmp, `${name}.log`);
    const fd = openSync(this.logPath, "w");
    this.child = spawn(args[0], args.slice(1), { stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
    this.exited = false;
    this.exitCode = null;
    this.child.on("exit", (code, signal) => {
      this.exited = true;
      this.exitCode = signal ? `signal ${signal}` : code;
    });
  }
  log() {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }
  async stop() {
    if (this.exited) return;
    this.child.kill("SIGTERM");
    for (let i = 0; i < 50 && !this.exited; i++) await sleep(100);
    if (!this.exited) this.child.kill("SIGKILL");
  }
}

// Starts camsim (cam1..cam3, H.264 640x360, 1 s GOP) and vigil with
// cam1 and cam2 configured (cam3 is there to be added through the UI).
export async function startNode() {
  const tmp = mkdtempSync(join(tmpdir(), "vigil-browser-"));
  const [camPort, httpPort, rtspPort, onvifPort] = [await freePort(), await freePort(), await freePort(), await freePortRun(3)];
  const procs = [];
  const camsim = new Proc("camsim", [vigilBin, "camsim", "--port", String(camPort), "--cameras", "3", "--codec", "h264",
    "--size", "640x360", "--fps", "25", "--gop", "25", "--bitrate", "600k", "--source", "pattern",
    // camK is also an ONVIF device (PTZ) at onvifPort + K - 1.
    "--onvif-port", String(onvifPort), "--onvif-events", "0"], {}, tmp);
  procs.push(camsim);
  await waitFor(() => camsim.log().includes("camsim: serving"), { timeout: 60000, what: "camsim" });
  const config = {
    log_level: "info",
    http: { port: httpPort, bind: "127.0.0.1", web_root: webRoot },
    rtsp_server: { port: rtspPort, bind: "127.0.0.1" },
    auth: { enabled: true, argon2_m_kib: 256, argon2_t_cost: 1, secret_key_file: join(tmp, "secret.key") },
    database: { path: join(tmp, "vigil.db") },
    record: { enabled: true, root: join(tmp, "recordings"), segment_s: 4, fragment_ms: 500 },
    // Manual events in the tests; the clip starts 3 s before, not the
    // default 5 s, so that a page assuming the default is caught.
    events: { pre_capture_s: 3, post_capture_s: 2 },
    ...(modelsDir ? { analytics: { enabled: true, models_dir: modelsDir, detect_threads: 1, threads: 1 } } : {}),
    cameras: [
      { id: "cam1", name: "Front door", url: `rtsp://127.0.0.1:${camPort}/cam1` },
      { id: "cam2", name: "Back office", url: `rtsp://127.0.0.1:${camPort}/cam2` },
    ],
  };
  const configPath = join(tmp, "vigil.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const vigil = new Proc("vigil", [vigilBin, "run", "-c", configPath], { VIGIL_ADMIN_PASSWORD: ADMIN_PASSWORD }, tmp);
  procs.push(vigil);
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await fetch(`${base}/api/v1/health`)).ok, { timeout: 20000, what: "vigil's HTTP API" });
  const node = {
    tmp, base, camPort, httpPort, rtspPort, onvifPort, vigil, camsim,
    // A camsim serving a scripted scene (people walking across the
    // picture, docs/ANALYTICS.md) on a port of its own; stopped with the node.
    async startScene(scene) {
      const port = await freePort();
      const p = new Proc("camsim-scene", [vigilBin, "camsim", "--port", String(port), "--cameras", "1", "--scene", join(scenesDir, scene)], {}, tmp);
      procs.push(p);
      await waitFor(() => p.log().includes("camsim: serving"), { timeout: 60000, what: "camsim's scene" });
      return port;
    },
    async stop() {
      for (const p of procs.reverse()) await p.stop();
      if (!process.env.VG_KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
    },
  };
  return node;
}

// An API call as admin with Basic credentials (scripts' way in).
export async function adminApi(node, method, path, body) {
  const res = await fetch(node.base + path, {
    method,
    headers: {
      Authorization: "Basic " + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64"),
      ...(body ? { "Content-Type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

export function ensureShotsDir() {
  mkdirSync(shotsDir, { recursive: true });
}
