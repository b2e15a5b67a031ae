/**
 * Threads for the wasm EP. They need a cross-origin isolated engine host (the manifest's COOP/COEP keys make extension
 * pages isolated where the browser honours them); otherwise ORT silently runs one thread, so report 1. All cores: the
 * engine host is the only heavy user of this process, and ORT's default (half the cores, at most 4) leaves one of two
 * cores idle.
 */
export function wasmThreads(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 16));
}
