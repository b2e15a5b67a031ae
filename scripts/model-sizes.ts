/**
 * Sizes of a registry id's graphs (docs/models.md): as stored, and at the precision its profile gives it by default
 * (Chrome and Firefox; and the 8-bit profiles: Edge, Safari, unknown), measured from the bytes the engine's own
 * load-time rewrite writes (prepare.ts prepareModel, the weights' report summed), not from a table.
 *
 *   npx tsx scripts/model-sizes.ts <registry id> [folder]
 *
 * Without a folder: the generated test model of tools/hub-models (what the tests run). With a folder holding the
 * repo's files in the hub layout (a download of it): those graphs. Graphs with external data (the LLMs) are not
 * handled here.
 */
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';

// Before anything imports onnx-proto by name (a CommonJS package Node's ESM loader cannot link; see the hooks).
register('../bench/lib/esm-hooks.mjs', import.meta.url);
const { prepareModel } = await import('../extension/host/prepare');
const { registryEntry, REGISTRY } = await import('../extension/models/registry');
const { PROFILES } = await import('../extension/host/profile');
const { pipelineFor } = await import('../extension/tasks');

type HubFiles = Record<string, Uint8Array | string>;
const GENERATED: Record<string, () => Promise<HubFiles>> = {
  'bert-base-uncased': async () => (await import('../tools/hub-models/bert')).bertHubFiles(),
  'vit-base-patch16-224': async () => (await import('../tools/hub-models/vit')).vitHubFiles(),
  'whisper-tiny': async () => (await import('../tools/hub-models/whisper')).whisperHubFiles(),
  'wav2vec2-base-960h': async () => (await import('../tools/hub-models/wav2vec2')).wav2vec2HubFiles(),
  't5-small': async () => (await import('../tools/hub-models/t5')).t5HubFiles(),
};

const [id, folder] = process.argv.slice(2);
const entry = id ? registryEntry(id) : undefined;
if (!entry) {
  console.error(`usage: npx tsx scripts/model-sizes.ts <id> [folder]; ids: ${[...REGISTRY.keys()].join(', ')}`);
  process.exit(2);
}
const pipeline = pipelineFor(entry.task, entry.modelType);
const graphs = Object.entries({ ...pipeline.graphs, ...entry.graphs });
const generated = folder ? undefined : await GENERATED[entry.id]?.();
if (!folder && !generated) {
  console.error(`${entry.id}: no generated test model; give a folder with the repo's files`);
  process.exit(2);
}
const read = (name: string): Uint8Array => {
  if (folder) return new Uint8Array(readFileSync(join(folder, name)));
  const f = generated![name];
  if (!(f instanceof Uint8Array)) throw new Error(`the generated model has no ${name}`);
  return f;
};

const MB = (n: number) => (n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);
const profiles = [
  ['Chrome, Firefox', PROFILES.chrome!.modalities[pipeline.modality]],
  ['Edge, Safari, unknown', PROFILES.edge!.modalities[pipeline.modality]],
] as const;
console.log(`${entry.id} (${folder ? folder : 'generated test model'}), ${pipeline.modality} model`);
let stored = 0;
const atProfile = profiles.map(() => 0);
for (const [role, name] of graphs) {
  const bytes = read(name);
  stored += bytes.length;
  const sizes = profiles.map(([, advice], i) => {
    const prepared = prepareModel(bytes, {
      bits: advice.bits,
      scheme: 'symmetric',
      groupSize: 128,
      mixedPrecision: advice.mixedPrecision,
      attentionPrecision: 8,
      embeddingPrecision: 8,
      skipLayerNorm: true,
    });
    atProfile[i]! += prepared.bytes.length;
    return `${advice.bits}-bit${advice.mixedPrecision ? ' mixed' : ''} ${MB(prepared.bytes.length)}`;
  });
  console.log(`  ${role} ${name}: stored ${MB(bytes.length)}; ${sizes.join('; ')}`);
}
console.log(
  `  all graphs: stored ${MB(stored)}; ${profiles.map(([who, a], i) => `${who} (${a.bits}-bit${a.mixedPrecision ? ' mixed' : ''}) ${MB(atProfile[i]!)}`).join('; ')}`,
);
