// Builds the web app: bundles src/main.js (Preact, htm, hls.js loaded on
// demand) with esbuild into dist/, copies public/ (index.html, manifest,
// service worker, styles, icon) next to it, and stamps the service worker's
// cache name with a hash of the bundle so that a new build replaces the old
// shell. Run by CMake (target "web") or `node web/build.mjs`; `--dev` skips
// minification.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const dev = process.argv.includes("--dev");

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const result = await build({
  entryPoints: { app: join(here, "src/main.js") },
  bundle: true,
  splitting: true,
  format: "esm",
  target: "es2020",
  outdir: dist,
  chunkNames: "chunks/[name]-[hash]",
  minify: !dev,
  sourcemap: true,
  metafile: true,
  logLevel: "warning",
  legalComments: "linked",
});
cpSync(join(here, "public"), dist, { recursive: true });

// The service worker caches the shell under a name that changes with it.
const hash = createHash("sha256");
for (const f of Object.keys(result.metafile.outputs).sort()) hash.update(readFileSync(f));
for (const f of readdirSync(join(here, "public")).sort()) hash.update(readFileSync(join(here, "public", f)));
const sw = join(dist, "sw.js");
writeFileSync(sw, readFileSync(sw, "utf8").replace("__BUILD__", hash.digest("hex").slice(0, 12)));
writeFileSync(join(dist, ".stamp"), new Date().toISOString() + "\n");
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`web: built ${dist} (${(bytes / 1024).toFixed(0)} KiB with source maps)`);
