/**
 * Handing a KV cache from one step to the next, where its tensors may be kept on the GPU (`HeldTensor`): each holder
 * disposes its own GPU tensors exactly once. Shared by the decoder-only loop (generation/decode-loop.ts) and the
 * encoder-decoder loops (generation/seq2seq-loop.ts for T5, speech-recognition.ts for Whisper).
 */
import { isDeviceTensor, type GraphRunner, type HeldTensor } from './types';

/** Disposes the GPU tensors among `tensors` (CPU data needs nothing). */
export function disposeDevice(tensors: Iterable<HeldTensor>): void {
  for (const t of tensors) if (isDeviceTensor(t)) t.dispose();
}

/** Puts `tensor` under `key`; a GPU tensor it replaces is disposed. */
export function replaceHeld(cache: Map<string, HeldTensor>, key: string, tensor: HeldTensor): void {
  const before = cache.get(key);
  if (before && before !== tensor && isDeviceTensor(before)) before.dispose();
  cache.set(key, tensor);
}

/** The `present.*` outputs of a graph: what a step hands on as the next step's past. */
export function presentOutputs(graphs: GraphRunner, role: string): string[] {
  return graphs
    .io(role)
    .outputs.map((o) => o.name)
    .filter((name) => name.startsWith('present.'));
}

/**
 * Takes a step's `present.*` outputs that `take` accepts into `cache` as the next step's `past_key_values.*` of the
 * same suffix (replaceHeld); a GPU present not taken (a with-past step's cross-attention placeholder) is disposed
 * unread.
 */
export function keepPresents(
  outputs: Record<string, HeldTensor>,
  cache: Map<string, HeldTensor>,
  take: (name: string) => boolean = () => true,
): void {
  for (const [name, tensor] of Object.entries(outputs)) {
    if (!name.startsWith('present.')) continue;
    if (take(name)) replaceHeld(cache, `past_key_values.${name.slice('present.'.length)}`, tensor);
    else if (isDeviceTensor(tensor)) tensor.dispose();
  }
}
