/**
 * sha256 as lowercase hex, for download checks and cache integrity: Web Crypto for bytes held whole, hash-wasm for
 * a file that arrives or is read in pieces (Web Crypto cannot hash a stream, and a model's data file is never whole
 * in memory).
 */
import { createSHA256 } from 'hash-wasm';

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A sha256 fed piece by piece: `update` in order, then `hex()` once. */
export interface Sha256Stream {
  update(bytes: Uint8Array): void;
  hex(): string;
}

export async function sha256Stream(): Promise<Sha256Stream> {
  const hasher = await createSHA256();
  hasher.init();
  return {
    update: (bytes) => void hasher.update(bytes),
    hex: () => hasher.digest('hex'),
  };
}
