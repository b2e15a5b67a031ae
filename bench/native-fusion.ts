/**
 * What one of webq's decode-engine fusions changes, in Node on Dawn (npm `webgpu`): `--fusion gate-up` (the default)
 * runs the MLP's gate and up projections as one matmul (native/decoder.ts `fuseGateUp`), `--fusion norm` the layers'
 * RMSNorms inside the decode step's GEMVs (`fuseNorm`). The generation bench's Llama and Qwen2 shapes (4 layers × 256,
 * intermediate 688, full vocabularies) quantized by webq's rewrite to 4 bits, a ~60-token prompt, then `--tokens`
 * greedy steps; each round runs both arms in turn (the order alternating), tokens checked equal; medians of the
 * rounds of ms per decode step and the prefill's ms.
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     npx tsx bench/native-fusion.ts [--fusion gate-up|norm] [--rounds 5] [--tokens 16]
 *
 * Writes bench/results/native-fusion.json (gate-up) or native-fusion-norm.json.
 */
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { create, globals } from 'webgpu';

register('./lib/esm-hooks.mjs', import.meta.url);
const { genWorkload, GEN_BENCH_BUILDS, GEN_MESSAGES } = await import('./models/generation');
const { prepareModel } = await import('../extension/host/prepare');
const { makePolicy } = await import('../extension/onnx/policy');
const { parseModel } = await import('../extension/onnx/model');
const { NativeDecoder } = await import('../extension/native/decoder');
const { nativeConfig, readDecoderWeights, isNotNative } = await import('../extension/native/decoder-weights');
const { textGeneration, promptIds } = await import('../extension/tasks/generation/index');
const { filesFrom } = await import('../tests/support/node-pipeline');
const { adapterName, openDevice } = await import('../kernels/device');
const { median } = await import('./lib/stats');

const { values } = parseArgs({
  options: {
    fusion: { type: 'string', default: 'gate-up' },
    rounds: { type: 'string', default: '5' },
    tokens: { type: 'string', default: '16' },
  },
});
const FUSIONS = { 'gate-up': 'fuseGateUp', norm: 'fuseNorm' } as const;
const fusion = values.fusion as keyof typeof FUSIONS;
if (!(fusion in FUSIONS)) throw new Error(`--fusion must be ${Object.keys(FUSIONS).join(' or ')}; got ${fusion}`);
const rounds = Number(values.rounds);
const steps = Number(values.tokens);

Object.assign(globalThis, globals);
const gpu = create([]); // kept referenced: Dawn's instance must outlive the device
const opened = await openDevice(gpu, ['subgroups' as GPUFeatureName]);
if (!opened) throw new Error('no WebGPU adapter (set VK_ICD_FILENAMES to SwiftShader on a machine without a GPU)');
const { device } = opened;

const rows: Record<string, unknown>[] = [];
for (const id of GEN_BENCH_BUILDS) {
  const workload = genWorkload(id);
  const hub = await workload.files();
  const assets = await textGeneration.prepare(filesFrom(hub));
  const policy = makePolicy({ bits: 4, scheme: 'symmetric', groupSize: 32, skipLayerNorm: true });
  const bytes = prepareModel(hub['onnx/model.onnx'] as Uint8Array, policy).bytes;
  const configFile = hub['config.json']!;
  const config = JSON.parse(
    typeof configFile === 'string' ? configFile : new TextDecoder().decode(configFile),
  ) as Record<string, unknown>;
  const weights = readDecoderWeights(parseModel(bytes), assets.config, nativeConfig(config));
  if (isNotNative(weights)) throw new Error(weights.notNative);
  const prompt = await promptIds(assets, { kind: 'messages', messages: [...GEN_MESSAGES] });
  const arms = { fused: true, apart: false };
  const decoders = Object.fromEntries(
    Object.entries(arms).map(([name, fused]) => [
      name,
      new NativeDecoder(device, weights, { maxPositions: assets.config.contextWindow, [FUSIONS[fusion]]: fused }),
    ]),
  );
  const times: Record<string, { step: number[]; prefill: number[] }> = {
    fused: { step: [], prefill: [] },
    apart: { step: [], prefill: [] },
  };
  const tokens: Record<string, number[]> = {};
  for (let r = 0; r < rounds + 1; r++) {
    for (const name of r % 2 ? ['apart', 'fused'] : ['fused', 'apart']) {
      const d = decoders[name]!;
      d.reset();
      let t = performance.now();
      let id = (await d.run(prompt, 'token', assets.vocabLimit)).token!;
      const prefill = performance.now() - t;
      const out = [id];
      t = performance.now();
      for (let i = 0; i < steps; i++) out.push((id = (await d.run([id], 'token', assets.vocabLimit)).token!));
      const step = (performance.now() - t) / steps;
      if (r === 0) continue; // the first round compiles the pipelines
      times[name]!.step.push(step);
      times[name]!.prefill.push(prefill);
      if (tokens[name] && tokens[name]!.join() !== out.join())
        throw new Error(`${name}: tokens changed between rounds`);
      tokens[name] = out;
    }
  }
  if (tokens.fused!.join() !== tokens.apart!.join()) throw new Error(`${id}: the arms' tokens differ`);
  const fused = median(times.fused!.step);
  const apart = median(times.apart!.step);
  const row = {
    model: workload.label,
    msPerTokenFused: fused,
    msPerTokenApart: apart,
    decodeRatio: apart / fused,
    prefillMsFused: median(times.fused!.prefill),
    prefillMsApart: median(times.apart!.prefill),
  };
  rows.push(row);
  console.log(
    `${id}: ms/token fused ${fused.toFixed(2)}, apart ${apart.toFixed(2)} (×${(apart / fused).toFixed(2)}); ` +
      `prefill ${row.prefillMsFused.toFixed(0)} vs ${row.prefillMsApart.toFixed(0)} ms`,
  );
  for (const d of Object.values(decoders)) d.destroy();
}
const result = { device: `${adapterName(opened.info)}, Dawn for Node`, fusion, rounds, steps, rows };
const file = fusion === 'gate-up' ? 'native-fusion.json' : `native-fusion-${fusion}.json`;
writeFileSync(new URL(`./results/${file}`, import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
console.log(result.device);
void gpu;
