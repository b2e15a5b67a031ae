/**
 * The generation loop of an encoder-decoder model in the Optimum layout (T5: text2text-generation): the encoder has
 * run once; the decoder start token goes through `decoder` (decoder_model.onnx), which also gives the cross-attention
 * cache of the encoder's states; every later token goes alone through `decoderWithPast`, fed the cache
 * (`present.*` of the step before → `past_key_values.*` of the same name; the with-past graph returns only the growing
 * self-attention halves, so the cross-attention halves stay those of the first step).
 *
 * It shares with the decoder-only loop (decode-loop.ts) what a page sees: the Sampler (greedy or seeded sampling,
 * repetition penalty, top-k, top-p), the Detokenizer (whole-character deltas for streaming, stop strings), the
 * finish reasons, usage and timings. What differs is the cache and the graphs, which is why it is its own loop: the
 * decoder-only loop's prefill, position ids, next-token head and native engine have no counterpart here.
 *
 * Where the runner keeps outputs on the GPU (`runKeeping`: WebGPU), the with-past graph's presents stay there and go
 * back in as its next past, as in Whisper's loop; the first step's (made by the other session, which cannot take a
 * GPU tensor back from it) come to the CPU once. Every GPU tensor is disposed when decoding ends.
 */
import { WebqError } from '../../shared/errors';
import type { Tensor } from '../../shared/tensor';
import { isDeviceTensor, type GraphRunner, type HeldTensor } from '../types';
import { disposeDevice, keepPresents, presentOutputs } from '../held-tensors';
import { lastLogits, type FinishReason, type GenerationResult } from './decode-loop';
import { Detokenizer, type Decode } from './detokenize';
import { Sampler, type SamplingOptions } from './sampling';

export interface Seq2SeqModel {
  graphs: GraphRunner;
  /** Roles of the first-step decoder and the with-past decoder in `graphs`. */
  decoder: string;
  decoderWithPast: string;
  decoderStartId: number;
  eosIds: readonly number[];
  /** Ids the tokenizer knows: logits past it (a padded vocab_size) are never chosen. */
  vocabLimit: number;
}

export interface Seq2SeqParams {
  /** What the encoder gave and the mask of its input, fed to the decoders as their graphs declare. */
  encoderHiddenStates: Tensor;
  encoderAttentionMask: Tensor;
  /** Tokens of the input (for usage and the prefill rate). */
  promptTokens: number;
  maxNewTokens: number;
  sampling?: SamplingOptions;
  stop?: readonly string[];
  decode: Decode;
  onDelta?: (delta: string) => void;
  /** When the encoder started: time to first token and the prefill rate count it. */
  startedAt: number;
}

const now = () => performance.now();

export async function generateSeq2Seq(model: Seq2SeqModel, params: Seq2SeqParams): Promise<GenerationResult> {
  const cache = new Map<string, HeldTensor>();
  try {
    return await generateWith(model, params, cache);
  } finally {
    disposeDevice(cache.values());
  }
}

async function generateWith(
  model: Seq2SeqModel,
  params: Seq2SeqParams,
  cache: Map<string, HeldTensor>,
): Promise<GenerationResult> {
  const { graphs } = model;
  const sampler = new Sampler(params.sampling);
  const detokenizer = new Detokenizer(params.decode, params.stop ?? []);
  const tokens: number[] = [];
  // The repetition penalty sees the decoder's own sequence, start token included, as Hugging Face's does.
  const history = [model.decoderStartId];
  const idsType = graphs.io(model.decoder).inputs.find((i) => i.name === 'input_ids')?.type ?? 'int64';
  const feeds = (role: string, id: number): Record<string, HeldTensor> => {
    const available: Record<string, HeldTensor> = {
      input_ids: idsTensor([id], idsType),
      encoder_attention_mask: params.encoderAttentionMask,
      encoder_hidden_states: params.encoderHiddenStates,
    };
    const out: Record<string, HeldTensor> = {};
    for (const input of graphs.io(role).inputs) {
      const tensor = available[input.name] ?? cache.get(input.name);
      if (!tensor) {
        const hint = input.name.startsWith('past_key_values.')
          ? ` (the previous step gave no ${input.name.replace('past_key_values.', 'present.')})`
          : '';
        throw new WebqError(
          'DataError',
          `the model's ${role} graph takes an input ${JSON.stringify(input.name)} that text2text-generation cannot feed${hint}`,
        );
      }
      out[input.name] =
        input.name === 'encoder_attention_mask' && !isDeviceTensor(tensor) ? asIdsType(tensor, input.type) : tensor;
    }
    return out;
  };
  // Only the with-past graph's presents return to the session that made them.
  const keep = presentOutputs(graphs, model.decoderWithPast);
  const step = async (role: string, id: number): Promise<Float32Array> => {
    if (graphs.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
    const outputs: Record<string, HeldTensor> = graphs.runKeeping
      ? await graphs.runKeeping(role, feeds(role, id), role === model.decoderWithPast ? keep : [])
      : await graphs.run(role, feeds(role, id) as Record<string, Tensor>);
    keepPresents(outputs, cache);
    // `logits` is never kept: it arrives on the CPU.
    return lastLogits(outputs as Record<string, Tensor>);
  };

  let logits = await step(model.decoder, model.decoderStartId);
  const prefillMs = now() - params.startedAt;
  let firstTokenAt = 0;
  let reason: FinishReason;
  for (;;) {
    const next = sampler.pick(logits, history, Math.min(logits.length, model.vocabLimit));
    firstTokenAt ||= now();
    if (model.eosIds.includes(next)) {
      reason = 'stop';
      break;
    }
    tokens.push(next);
    history.push(next);
    const delta = await detokenizer.push(next);
    if (delta) params.onDelta?.(delta);
    if (detokenizer.stopped) {
      reason = 'stop';
      break;
    }
    if (tokens.length >= params.maxNewTokens) {
      reason = 'length';
      break;
    }
    logits = await step(model.decoderWithPast, next);
  }
  const last = await detokenizer.finish();
  if (last) params.onDelta?.(last);
  const decodeMs = now() - firstTokenAt;
  return {
    text: detokenizer.text,
    tokens,
    finishReason: reason,
    usage: { promptTokens: params.promptTokens, completionTokens: tokens.length },
    timings: {
      prefillMs,
      decodeMs,
      timeToFirstTokenMs: firstTokenAt - params.startedAt,
      prefillTokensPerSecond: prefillMs > 0 ? (params.promptTokens * 1000) / prefillMs : 0,
      decodeTokensPerSecond: decodeMs > 0 ? (Math.max(0, tokens.length - 1) * 1000) / decodeMs : 0,
    },
  };
}

export function idsTensor(ids: readonly number[], type: string): Tensor {
  if (type === 'int32') return { type: 'int32', dims: [1, ids.length], data: Int32Array.from(ids) };
  return { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids, (id) => BigInt(id)) };
}

/** Ids or a mask as the graph declares them (int64 in the Optimum export; some exports take int32). */
export function asIdsType(mask: Tensor, type: string): Tensor {
  if (mask.type === type || (type !== 'int32' && type !== 'int64')) return mask;
  return idsTensor(Array.from(mask.data as ArrayLike<number | bigint>, Number), type);
}
