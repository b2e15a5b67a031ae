/**
 * The wasm threads the page's baselines (onnxruntime-web and transformers.js) run: the engine host's count, which
 * the bench sets before either baseline loads. The bench page is cross-origin isolated so that it can match an
 * engine that runs several threads (Chrome's offscreen document), but Firefox's background page runs one: a baseline
 * that took every core there would measure threads, not webq's path around the runtime.
 */
import { wasmThreads } from '../../extension/host/threads';

let threads = 1;

/** Asks for `engineThreads`; returns what this page can really run (fewer where it is not isolated). */
export function setBaselineThreads(engineThreads: number): number {
  if (!Number.isInteger(engineThreads) || engineThreads < 1) throw new Error(`engineThreads: ${engineThreads}`);
  threads = Math.min(engineThreads, wasmThreads());
  return threads;
}

export const baselineThreads = (): number => threads;
