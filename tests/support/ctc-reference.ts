/**
 * A reference transcript for CTC speech models, written from the definitions and independent of webq's pipeline
 * (extension/tasks/speech-recognition-ctc.ts): the Wav2Vec2FeatureExtractor's normalisation, the graph run directly on
 * onnxruntime-node, then per frame the best id, repeats merged, blanks dropped, the word delimiter as a space.
 * Used by the pipeline's unit test and by the registry e2e suite (on the quantized bytes the browser ran).
 */
import * as ort from 'onnxruntime-node';

/** (x − mean) / sqrt(var + 1e-7), population variance, as the feature extractor's do_normalize. */
export function referenceNormalize(x: Float32Array): Float32Array {
  const n = x.length;
  const mean = x.reduce((s, v) => s + v, 0) / n;
  const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  return x.map((v) => (v - mean) / Math.sqrt(variance + 1e-7));
}

/** `vocab` by id; id 0 is the blank, `|` the word delimiter, `<…>` tokens left out of the text. */
export async function referenceCtcTranscript(
  samples16k: Float32Array,
  graph: Uint8Array,
  vocab: readonly string[],
): Promise<{ text: string; tokens: number[] }> {
  const session = await ort.InferenceSession.create(graph);
  try {
    const input = referenceNormalize(samples16k);
    const { logits } = await session.run({ input_values: new ort.Tensor('float32', input, [1, input.length]) });
    const [, frames, size] = logits!.dims as number[];
    const data = logits!.data as Float32Array;
    const best: number[] = [];
    for (let t = 0; t < frames!; t++) {
      const row = Array.from(data.subarray(t * size!, (t + 1) * size!));
      best.push(row.indexOf(Math.max(...row)));
    }
    const tokens = best.filter((id, t) => id !== 0 && id !== best[t - 1]);
    const words = tokens
      .map((id) => vocab[id]!)
      .filter((token) => !/^<.*>$/.test(token))
      .join('')
      .split('|')
      .filter((w) => w !== '');
    return { text: words.join(' '), tokens };
  } finally {
    await session.release();
  }
}
