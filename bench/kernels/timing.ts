/**
 * Timing helpers of the benchmark page. GPU work is timed from the CPU side: a sample is R back-to-back
 * iterations (each recorded and submitted as a real decoding step would be) closed by
 * queue.onSubmittedWorkDone(), so it covers the GPU time plus the per-call CPU cost that a caller pays.
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface TimingOptions {
  warmup: number;
  samples: number;
  /** Target length of one sample; R is chosen from a first run so that a sample lasts about this long. */
  sampleMs: number;
  maxIterations: number;
}

/** Median milliseconds per iteration of `iteration` (awaited in sequence), each sample ended by `drain`. */
export async function timeIt(
  iteration: () => Promise<void> | void,
  drain: () => Promise<void>,
  o: TimingOptions,
): Promise<number> {
  for (let i = 0; i < o.warmup; i++) await iteration();
  await drain();
  let t = performance.now();
  await iteration();
  await drain();
  const once = performance.now() - t;
  const R = Math.max(1, Math.min(o.maxIterations, Math.round(o.sampleMs / Math.max(once, 0.01))));
  const perIteration: number[] = [];
  for (let s = 0; s < o.samples; s++) {
    t = performance.now();
    for (let i = 0; i < R; i++) await iteration();
    await drain();
    perIteration.push((performance.now() - t) / R);
  }
  return median(perIteration);
}
