/**
 * Side-by-side timing of a few graphs of one model (the wasm-int8 and WebGPU accuracy_level benches): a warm-up run
 * of each arm, whose output is the one compared, then rounds in which every arm runs once, in an order that rotates
 * by one each round so no arm always runs first; and the graph rewrite both benches compare.
 */
import { intAttr, parseModel, serializeModel } from '../../extension/onnx/model';

/** Runs one arm and gives its output. */
export type Arm = () => Promise<Float32Array>;

export async function timeArms(
  arms: Record<string, Arm>,
  rounds: number,
): Promise<{ outputs: Record<string, Float32Array>; times: Record<string, number[]> }> {
  const names = Object.keys(arms);
  const outputs: Record<string, Float32Array> = {};
  const times: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (const name of names) outputs[name] = await arms[name]!();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length]!;
      const started = performance.now();
      await arms[name]!();
      times[name]!.push(performance.now() - started);
    }
  }
  return { outputs, times };
}

/** What timeGraphs needs of an onnxruntime session (onnxruntime-web's and onnxruntime-node's alike). */
export interface GraphSession {
  run(feeds: never): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
}

/**
 * timeArms over graphs: a session per graph from `create`, each run on `feeds`, its `output` compared; the sessions
 * are released after.
 */
export async function timeGraphs<S extends GraphSession>(
  graphs: Record<string, Uint8Array>,
  create: (bytes: Uint8Array) => Promise<S>,
  feeds: Parameters<S['run']>[0],
  output: string,
  rounds: number,
): Promise<{ outputs: Record<string, Float32Array>; times: Record<string, number[]> }> {
  const sessions: Record<string, S> = {};
  for (const [name, bytes] of Object.entries(graphs)) sessions[name] = await create(bytes);
  try {
    const run = (name: string) => async () => (await sessions[name]!.run(feeds))[output]!.data as Float32Array;
    return await timeArms(Object.fromEntries(Object.keys(graphs).map((name) => [name, run(name)])), rounds);
  } finally {
    for (const s of Object.values(sessions)) await s.release();
  }
}

/** The graph with every MatMulNBits at this accuracy_level. */
export function withAccuracyLevel(bytes: Uint8Array, level: number): Uint8Array {
  const model = parseModel(bytes);
  let n = 0;
  for (const node of model.graph!.node!) {
    if (node.opType !== 'MatMulNBits') continue;
    node.attribute = [...node.attribute!.filter((a) => a.name !== 'accuracy_level'), intAttr('accuracy_level', level)];
    n++;
  }
  if (n === 0) throw new Error('no MatMulNBits to set');
  return serializeModel(model);
}
