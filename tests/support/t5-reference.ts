/**
 * Greedy decoding of a T5-style encoder-decoder written apart from webq's pipeline (extension/tasks/
 * text2text-generation.ts), for tests to compare it with: the input's ids from @huggingface/tokenizers, the encoder
 * run directly on onnxruntime-node, then decoder_model.onnx on [decoder start, …generated] at every step — no KV
 * cache, no decoder_with_past — taking the argmax of the last position until the end-of-sequence id.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import type { HubFiles } from '../../tools/hub-mirror';

const json = (files: HubFiles, name: string) => JSON.parse(files[name] as string) as Record<string, unknown>;

/** The generated ids (neither the start token nor eos), at most `maxNew`. */
export async function t5ReferenceGreedy(files: HubFiles, input: string, maxNew = 32): Promise<number[]> {
  const config = json(files, 'config.json');
  const start = config.decoder_start_token_id as number;
  const eos = config.eos_token_id as number;
  const tokenizer = new Tokenizer(json(files, 'tokenizer.json'), json(files, 'tokenizer_config.json'));
  const ids = tokenizer.encode(input).ids;
  const int64 = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
  const encoder = await ort.InferenceSession.create(files['onnx/encoder_model.onnx'] as Uint8Array);
  const decoder = await ort.InferenceSession.create(files['onnx/decoder_model.onnx'] as Uint8Array);
  try {
    const mask = int64(ids.map(() => 1));
    const hidden = (await encoder.run({ input_ids: int64(ids), attention_mask: mask })).last_hidden_state!;
    const sequence = [start];
    for (let step = 0; step < maxNew; step++) {
      const feeds = { input_ids: int64(sequence), encoder_attention_mask: mask, encoder_hidden_states: hidden };
      const logits = (await decoder.run(feeds)).logits!;
      const width = logits.dims[2]!;
      const row = (logits.data as Float32Array).subarray((sequence.length - 1) * width, sequence.length * width);
      let best = 0;
      for (let i = 1; i < width; i++) if (row[i]! > row[best]!) best = i;
      if (best === eos) break;
      sequence.push(best);
    }
    return sequence.slice(1);
  } finally {
    await encoder.release();
    await decoder.release();
  }
}
