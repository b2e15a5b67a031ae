/**
 * mulberry32: a tiny seeded generator of uniform numbers in [0, 1). Used wherever webq makes inputs that must be
 * the same in every browser and run (the popup's generated inputs, `webq check`, the fuzz tests) — not for anything
 * that needs unpredictability.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` seeded uniform values in [−halfWidth, halfWidth): test and benchmark weights. */
export function uniformFloats(count: number, seed: number, halfWidth: number): Float32Array<ArrayBuffer> {
  const random = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (random() * 2 - 1) * halfWidth;
  return out;
}

/** FNV-1a of a string (a weight's name): generated weights seeded by the model's seed and their name only. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
