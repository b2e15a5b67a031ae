#!/usr/bin/env node
/**
 * Prints the sizes of the built @webq/client (run after `npm run build:client`): what every page that imports the
 * client downloads (each entry and its static imports), and what only a visitor without the extension downloads (the
 * in-page engine: the chunks behind the dynamic import, its workers, onnxruntime-web's .wasm). Read from Vite's
 * build manifest, so the split is the bundle's own, not a guess; gzip sizes are zlib's level 9.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = resolve(process.argv[2] ?? 'packages/client/dist');
const manifest = JSON.parse(readFileSync(join(dist, '.vite/manifest.json'), 'utf8'));

/** The files an entry loads before it runs: itself and its static imports, transitively. */
function staticClosure(key, into = new Set()) {
  const chunk = manifest[key];
  if (!chunk || into.has(chunk.file)) return into;
  into.add(chunk.file);
  for (const dep of chunk.imports ?? []) staticClosure(dep, into);
  return into;
}

const entries = Object.entries(manifest).filter(([, c]) => c.isEntry);
const clientFiles = new Set();
for (const [key] of entries) staticClosure(key, clientFiles);

const all = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const rel = relative(dist, path);
    if (rel === '.vite' || rel === 'types') continue;
    if (statSync(path).isDirectory()) walk(path);
    else all.push(rel);
  }
};
walk(dist);

const sizes = (files) => {
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const bytes = readFileSync(join(dist, f));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { raw, gzip };
};
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const line = (label, files) => {
  const { raw, gzip } = sizes(files);
  console.log(`${label.padEnd(44)} ${kb(raw).padStart(12)} ${kb(gzip).padStart(12)} gzip   (${files.length} files)`);
};

const engine = all.filter((f) => !clientFiles.has(f));
console.log(`@webq/client sizes, from ${relative(process.cwd(), dist) || '.'}`);
for (const [key, chunk] of entries) line(`entry ${chunk.file} (client, no engine)`, [...staticClosure(key)]);
line(
  'in-page engine: JS chunks and workers',
  engine.filter((f) => !f.endsWith('.wasm')),
);
line(
  'in-page engine: onnxruntime-web .wasm',
  engine.filter((f) => f.endsWith('.wasm')),
);
