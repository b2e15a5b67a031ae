/**
 * The text-generation baseline: transformers.js (`@huggingface/transformers`, with the onnxruntime-web build it
 * bundles) in the page, as a site uses it without webq — `pipeline('text-generation', repo, { device, dtype: 'fp32' })`
 * over the same hub files webq downloads (the bench's mirror, through `env.remoteHost`), greedy.
 *
 * Prefill and decode are timed by a streamer, which `generate()` calls once with the prompt ids before the first
 * forward pass and once after each new token is picked: prefill = prompt put → first token put; decode = first → last
 * token put over the tokens between them. The page clock (performance.now) times both runtimes alike.
 */
import { BaseStreamer, env, pipeline, type TextGenerationPipeline } from '@huggingface/transformers';
import type { ChatMessage } from '../models/generation';
import { baselineThreads } from './threads';
import { STOP_SPINNING_AFTER_RUNS } from '../../extension/host/spinning';

/** The page clock at each `put`: [0] is the prompt, [1..] one per generated token. */
class TimingStreamer extends BaseStreamer {
  readonly puts: number[] = [];
  readonly tokens: number[] = [];
  prompt: number[] = [];
  override put(value: bigint[][]): void {
    this.puts.push(performance.now());
    // The first put is the prompt; later ones are the new token of each (single) sequence.
    if (this.puts.length > 1) this.tokens.push(Number(value[0]![0]!));
    else this.prompt = value[0]!.map(Number);
  }
  override end(): void {}
}

const pipes = new Map<string, Promise<TextGenerationPipeline>>();
const key = (host: string, repo: string, device: string) => `${host} ${repo} ${device}`;

/**
 * `host`: the mirror's base URL (repos under `{host}/{repo}/resolve/main/`); `ortBase`: where the bundled
 * onnxruntime-web's .wasm files are served (the page has no network: never the CDN transformers.js defaults to).
 */
export async function load(
  host: string,
  repo: string,
  device: 'wasm' | 'webgpu',
  ortBase: string,
): Promise<{ loadMs: number; version: string; ortVersion: string }> {
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  env.remoteHost = host.endsWith('/') ? host : `${host}/`;
  env.useBrowserCache = false;
  env.useWasmCache = false;
  const onnx = env.backends.onnx as {
    wasm?: { wasmPaths?: unknown; numThreads?: number };
    versions?: { web?: string };
  };
  if (onnx.wasm) {
    onnx.wasm.wasmPaths = ortBase;
    // As many threads as webq's engine and the ORT baseline (threads.ts).
    onnx.wasm.numThreads = baselineThreads();
  }
  const started = performance.now();
  const k = key(host, repo, device);
  if (!pipes.has(k))
    pipes.set(
      k,
      pipeline('text-generation', repo, {
        device,
        dtype: 'fp32',
        session_options: { extra: STOP_SPINNING_AFTER_RUNS }, // as the engine host's sessions
      }) as Promise<TextGenerationPipeline>,
    );
  await pipes.get(k);
  return { loadMs: performance.now() - started, version: env.version, ortVersion: onnx.versions?.web ?? 'unknown' };
}

export interface GenTiming {
  wallMs: number;
  /** call → first new token in the page */
  firstTokenMs: number;
  prefillMs: number;
  decodeMs: number;
  promptTokens: number;
  /** the prompt's ids as transformers.js tokenized them */
  prompt: number[];
  tokens: number[];
}

/** One greedy generation of exactly what the messages and `maxNewTokens` ask (repetition penalty off, as webq's). */
export async function generate(
  host: string,
  repo: string,
  device: 'wasm' | 'webgpu',
  messages: readonly ChatMessage[],
  maxNewTokens: number,
): Promise<GenTiming> {
  const pipe = pipes.get(key(host, repo, device));
  if (!pipe) throw new Error(`transformers.js: ${repo} on ${device} is not loaded`);
  const generator = await pipe;
  const streamer = new TimingStreamer();
  const started = performance.now();
  await generator(
    messages as ChatMessage[],
    {
      max_new_tokens: maxNewTokens,
      do_sample: false,
      repetition_penalty: 1,
      streamer,
    } as never,
  );
  const wallMs = performance.now() - started;
  const { puts, tokens, prompt } = streamer;
  if (puts.length < 2) throw new Error('transformers.js generated no token');
  return {
    wallMs,
    firstTokenMs: puts[1]! - started,
    prefillMs: puts[1]! - puts[0]!,
    decodeMs: puts[puts.length - 1]! - puts[1]!,
    promptTokens: prompt.length,
    prompt,
    tokens,
  };
}

export async function release(host: string, repo: string, device: 'wasm' | 'webgpu'): Promise<void> {
  const k = key(host, repo, device);
  const pipe = pipes.get(k);
  pipes.delete(k);
  await (await pipe)?.dispose();
}
