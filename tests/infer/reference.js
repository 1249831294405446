#!/usr/bin/env node
// reference.js: runs a TF.js graph model in node on a raw f32 input tensor and
// writes every output as raw little-endian f32, in the order vigil uses
// (signature output names without ":0", sorted). TensorFlow.js is the
// reference for vigil's parity tests and the peer of its benchmark.
//
//   node reference.js --model models/nanodet.json --input in.f32 --out DIR
//        [--backend cpu|wasm] [--bench RUNS] [--threads N]
//
// With --bench it prints one JSON line of latency figures instead.
'use strict';
const fs = require('fs');
const path = require('path');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main() {
  const modelPath = arg('model');
  const inputPath = arg('input');
  const outDir = arg('out');
  const backend = arg('backend', 'cpu');
  const bench = parseInt(arg('bench', '0'), 10);
  const threads = parseInt(arg('threads', '1'), 10);
  if (!modelPath || !inputPath) {
    console.error('usage: reference.js --model model.json --input in.f32 [--out DIR] [--backend cpu|wasm] [--bench N]');
    process.exit(2);
  }
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-converter');
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
    wasm.setWasmPaths(dist);
    wasm.setThreadsCount(threads);
  } else {
    require('@tensorflow/tfjs-backend-cpu');
  }
  await tf.setBackend(backend);
  await tf.ready();

  const json = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const dir = path.dirname(modelPath);
  const specs = [];
  const parts = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, p)));
  }
  const blob = Buffer.concat(parts);
  const weightData = blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength);
  const handler = {
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: specs,
      weightData,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  };
  const model = await require('@tensorflow/tfjs-converter').loadGraphModel(handler);

  const inName = Object.keys(json.signature.inputs)[0];
  const shape = json.signature.inputs[inName].tensorShape.dim.map((d) => parseInt(d.size, 10));
  const raw = fs.readFileSync(inputPath);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const input = tf.tensor(data, shape, 'float32');
  const outNames = Object.values(json.signature.outputs)
    .map((o) => o.name.replace(/:0$/, ''))
    .sort();

  const run = async () => {
    const outs = model.execute(input, outNames);
    return Array.isArray(outs) ? outs : [outs];
  };
  if (bench > 0) {
    // Warm up (wasm compiles kernels, cpu fills caches), then time.
    tf.dispose(await run());
    const ms = [];
    for (let i = 0; i < bench; i++) {
      const t0 = process.hrtime.bigint();
      const outs = await run();
      await Promise.all(outs.map((t) => t.data()));
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      tf.dispose(outs);
    }
    ms.sort((a, b) => a - b);
    const p99 = ms[Math.round((ms.length - 1) * 0.99)];
    console.log(JSON.stringify({ backend, threads, runs: bench, median_ms: ms[ms.length >> 1], p99_ms: p99, min_ms: ms[0] }));
    return;
  }
  const outs = await run();
  if (arg('decode') === 'nanodet') {
    // An independent NanoDet decoder on TF.js's outputs, for comparing the
    // boxes vigil reports: per stride, the class scores [N,80] and the box
    // distributions [N,4*bins]; side = softmax expectation * stride from the
    // anchor centre ((x+0.5)*stride); class-wise NMS; scaled to the source.
    const srcW = parseFloat(arg('src-w')), srcH = parseFloat(arg('src-h'));
    const thr = parseFloat(arg('score', '0.35')), iouThr = parseFloat(arg('iou', '0.5'));
    const inSize = shape[3];
    const arrays = await Promise.all(outs.map((t) => t.data()));
    const cands = [];
    outs.forEach((cls, i) => {
      if (cls.shape[2] !== 80) return;
      const n = cls.shape[1];
      const bi = outs.findIndex((t) => t.shape[1] === n && t.shape[2] !== 80);
      const c = arrays[i], b = arrays[bi], bins = outs[bi].shape[2] / 4;
      const grid = Math.round(Math.sqrt(n)), stride = inSize / grid;
      for (let a = 0; a < n; a++) {
        let best = 0;
        for (let k = 1; k < 80; k++) if (c[a * 80 + k] > c[a * 80 + best]) best = k;
        const score = c[a * 80 + best];
        if (score < thr) continue;
        const d = [0, 1, 2, 3].map((side) => {
          const off = a * 4 * bins + side * bins;
          let mx = -Infinity, sum = 0, acc = 0;
          for (let k = 0; k < bins; k++) mx = Math.max(mx, b[off + k]);
          for (let k = 0; k < bins; k++) { const e = Math.exp(b[off + k] - mx); sum += e; acc += e * k; }
          return (acc / sum) * stride;
        });
        const cx = ((a % grid) + 0.5) * stride, cy = (Math.floor(a / grid) + 0.5) * stride;
        cands.push({ label: best, score, box: [cx - d[0], cy - d[1], cx + d[2], cy + d[3]] });
      }
    });
    cands.sort((p, q) => q.score - p.score);
    const iou = (p, q) => {
      const ix = Math.min(p[2], q[2]) - Math.max(p[0], q[0]), iy = Math.min(p[3], q[3]) - Math.max(p[1], q[1]);
      if (ix <= 0 || iy <= 0) return 0;
      const inter = ix * iy;
      return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter);
    };
    const kept = [];
    for (const c of cands) if (!kept.some((k) => k.label === c.label && iou(k.box, c.box) > iouThr)) kept.push(c);
    const sx = srcW / inSize, sy = srcH / inSize;
    const clamp = (v, hi) => Math.max(0, Math.min(hi, v));
    const dets = kept.map((k) => ({ class: k.label, score: k.score,
      box: [clamp(k.box[0] * sx, srcW), clamp(k.box[1] * sy, srcH), clamp(k.box[2] * sx, srcW), clamp(k.box[3] * sy, srcH)] }));
    console.log(JSON.stringify({ detections: dets }));
    return;
  }
  fs.mkdirSync(outDir, { recursive: true });
  for (let i = 0; i < outs.length; i++) {
    const v = await outs[i].data();
    const f = Float32Array.from(v);
    fs.writeFileSync(path.join(outDir, i + '.f32'), Buffer.from(f.buffer));
  }
  fs.writeFileSync(
    path.join(outDir, 'outputs.json'),
    JSON.stringify(outs.map((t, i) => ({ name: outNames[i], shape: t.shape, dtype: t.dtype })))
  );
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
