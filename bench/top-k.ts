/**
 * What a sampled step of webq's decode engine reads back: the logits row (Qwen2's 151,936 floats, 593 KiB) and its
 * top-k picked on the CPU (sampling.ts `topIndices`: what the engine does on a CPU-emulated adapter), or the top-k
 * picked on the GPU (kernels/top-k.ts) and k (logit, id) pairs read back (what it does on other adapters). In Node
 * on Dawn (npm `webgpu`), from a logits buffer already on the GPU; each round runs both arms in turn (the order
 * alternating), ids checked equal; medians of the rounds.
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/top-k.ts [--rounds 30] [--k 50]
 *
 * Writes bench/results/top-k.json.
 */
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { create, globals } from 'webgpu';

register('./lib/esm-hooks.mjs', import.meta.url);
const { createStorage, readBytes, topK, uploadBytes } = await import('../kernels/index');
const { adapterName, openDevice } = await import('../kernels/device');
const { topIndices } = await import('../extension/tasks/generation/sampling');
const { median } = await import('./lib/stats');

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '30' }, k: { type: 'string', default: '50' } },
});
const rounds = Number(values.rounds);
const k = Number(values.k);
const VOCAB = 151_936;

Object.assign(globalThis, globals);
const gpu = create([]); // kept referenced: Dawn's instance must outlive the device
const opened = await openDevice(gpu, []);
if (!opened) throw new Error('no WebGPU adapter (set VK_ICD_FILENAMES to SwiftShader on a machine without a GPU)');
const { device } = opened;

let state = 1;
const logits = Float32Array.from({ length: VOCAB }, () => ((state = (state * 48271) % 2147483647) / 2147483647) * 20);
const x = uploadBytes(device, logits);
const out = createStorage(device, k * 8);

const arms = {
  'logits row read back, top-k on the CPU': async () => {
    const bytes = await readBytes(device, x, VOCAB * 4);
    return topIndices(new Float32Array(bytes.buffer, bytes.byteOffset, VOCAB), k);
  },
  'top-k on the GPU, k pairs read back': async () => {
    topK(device, { x, count: VOCAB, k, out });
    const bytes = await readBytes(device, out, k * 8);
    const pairs = new Uint32Array(bytes.buffer, bytes.byteOffset, 2 * k);
    return Array.from({ length: k }, (_, j) => pairs[2 * j + 1]!);
  },
};
const names = Object.keys(arms) as (keyof typeof arms)[];
const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
const want = await arms[names[0]!]();
if (JSON.stringify(await arms[names[1]!]()) !== JSON.stringify(want)) throw new Error('the arms chose other ids');
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? [...names].reverse() : names) {
    const started = performance.now();
    await arms[name]();
    times[name]!.push(performance.now() - started);
  }
}
const adapter = `${adapterName(opened.info)}, Dawn for Node`;
const results = names.map((name) => ({ arm: name, medianMs: median(times[name]!) }));
for (const r of results) console.log(`${r.arm.padEnd(40)} ${r.medianMs.toFixed(2)} ms`);
console.log(`${adapter}; vocabulary ${VOCAB}, k ${k}, ${rounds} rounds`);
writeFileSync(
  new URL('./results/top-k.json', import.meta.url),
  `${JSON.stringify({ device: adapter, vocabulary: VOCAB, k, rounds, results }, null, 2)}\n`,
);
