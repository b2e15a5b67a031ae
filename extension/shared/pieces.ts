/**
 * Large messages in pieces. Chrome caps one runtime message at 64 MiB including its envelope, so a request that
 * carries 64 MiB of tensors (the limit webq promises) cannot go in one message. `toPieces` moves the binary out of
 * a message into ≤ 16 MiB pieces after a head that holds the rest; `Joiner` puts it back together on the other
 * side. Ports deliver in order, so pieces need no reordering. Small messages pass through untouched.
 */
const PIECE_BYTES = 16 * 1024 * 1024;
const SPLIT_ABOVE = 48 * 1024 * 1024;

const ARRAYS = {
  Float32Array,
  Float64Array,
  Uint16Array,
  BigInt64Array,
  Int32Array,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint32Array,
} as const;
type ArrayKind = keyof typeof ARRAYS;

interface Head {
  type: 'webq-pieces';
  cid: string;
  skeleton: unknown;
  arrays: { kind: ArrayKind; bytes: number }[];
  pieces: number;
}
interface Piece {
  type: 'webq-piece';
  cid: string;
  data: Uint8Array;
}

const tagOf = (v: unknown) => Object.prototype.toString.call(v).slice(8, -1);

function binaryBytes(value: unknown, depth = 0): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value !== 'object' || value === null || depth > 8) return 0;
  let sum = 0;
  for (const v of Object.values(value)) sum += binaryBytes(v, depth + 1);
  return sum;
}

let counter = 0;

/** The message itself when small; else a head and its pieces, in the order they must be posted. */
export function toPieces(message: unknown): unknown[] {
  if (binaryBytes(message) <= SPLIT_ABOVE) return [message];
  const arrays: ArrayBufferView[] = [];
  const strip = (value: unknown, depth: number): unknown => {
    if (ArrayBuffer.isView(value) && tagOf(value) in ARRAYS) {
      arrays.push(value);
      return { $piece: arrays.length - 1 };
    }
    if (typeof value !== 'object' || value === null || depth > 8) return value;
    if (Array.isArray(value)) return value.map((v) => strip(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strip(v, depth + 1)]));
  };
  const skeleton = strip(message, 0);
  const total = arrays.reduce((n, a) => n + a.byteLength, 0);
  const cid = `p${Date.now().toString(36)}${(++counter).toString(36)}`;
  const head: Head = {
    type: 'webq-pieces',
    cid,
    skeleton,
    arrays: arrays.map((a) => ({ kind: tagOf(a) as ArrayKind, bytes: a.byteLength })),
    pieces: Math.ceil(total / PIECE_BYTES),
  };
  const out: unknown[] = [head];
  // Cut the concatenated bytes of all arrays into pieces; an array may span pieces.
  let piece = new Uint8Array(Math.min(PIECE_BYTES, total));
  let filled = 0;
  let left = total;
  for (const a of arrays) {
    let bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    while (bytes.byteLength > 0) {
      const n = Math.min(bytes.byteLength, piece.byteLength - filled);
      piece.set(bytes.subarray(0, n), filled);
      filled += n;
      bytes = bytes.subarray(n);
      if (filled === piece.byteLength) {
        out.push({ type: 'webq-piece', cid, data: piece } satisfies Piece);
        left -= filled;
        piece = new Uint8Array(Math.min(PIECE_BYTES, left));
        filled = 0;
      }
    }
  }
  return out;
}

/**
 * Reassembles pieced messages from one port. `accept` returns the message to handle, or null while a pieced
 * message is incomplete or was malformed (then it is dropped; `limitBytes` bounds what one message may hold).
 */
export class Joiner {
  private current: {
    head: Head;
    buffers: Uint8Array[];
    arrayIndex: number;
    offset: number;
    piecesLeft: number;
  } | null = null;

  constructor(private readonly limitBytes: number) {}

  accept(raw: unknown): { message: unknown } | null {
    const m = raw as {
      type?: unknown;
      cid?: unknown;
      arrays?: Head['arrays'];
      pieces?: unknown;
      data?: unknown;
    } | null;
    if (m?.type === 'webq-pieces') {
      this.current = null;
      const arrays = Array.isArray(m.arrays) ? m.arrays : [];
      const total = arrays.reduce(
        (n, a) => n + (Number.isSafeInteger(a?.bytes) && a.bytes >= 0 ? a.bytes : Infinity),
        0,
      );
      if (!(total <= this.limitBytes) || !arrays.every((a) => a.kind in ARRAYS) || typeof m.cid !== 'string')
        return null;
      this.current = {
        head: m as unknown as Head,
        buffers: arrays.map((a) => new Uint8Array(a.bytes)),
        arrayIndex: 0,
        offset: 0,
        piecesLeft: Number(m.pieces),
      };
      return this.finishIfDone();
    }
    if (m?.type === 'webq-piece') {
      const c = this.current;
      if (!c || m.cid !== c.head.cid || !ArrayBuffer.isView(m.data)) {
        this.current = null;
        return null;
      }
      let bytes = new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      while (bytes.byteLength > 0) {
        const target = c.buffers[c.arrayIndex];
        if (!target) {
          this.current = null;
          return null;
        } // more bytes than the head declared
        const n = Math.min(bytes.byteLength, target.byteLength - c.offset);
        target.set(bytes.subarray(0, n), c.offset);
        c.offset += n;
        bytes = bytes.subarray(n);
        if (c.offset === target.byteLength) {
          c.arrayIndex++;
          c.offset = 0;
        }
      }
      c.piecesLeft--;
      return this.finishIfDone();
    }
    return { message: raw };
  }

  private finishIfDone(): { message: unknown } | null {
    const c = this.current;
    if (!c || c.piecesLeft > 0) return null;
    this.current = null;
    while (c.arrayIndex < c.buffers.length && c.buffers[c.arrayIndex]!.byteLength === 0) c.arrayIndex++;
    if (c.arrayIndex !== c.buffers.length) return null; // fewer bytes than declared
    const arrays = c.buffers.map((b, i) => {
      const Kind = ARRAYS[c.head.arrays[i]!.kind] as unknown as new (buffer: ArrayBuffer) => ArrayBufferView;
      return new Kind(b.buffer as ArrayBuffer);
    });
    const fill = (value: unknown, depth: number): unknown => {
      if (typeof value !== 'object' || value === null || depth > 9) return value;
      if (Array.isArray(value)) return value.map((v) => fill(v, depth + 1));
      const o = value as Record<string, unknown>;
      if (Object.keys(o).length === 1 && typeof o.$piece === 'number') return arrays[o.$piece] ?? null;
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fill(v, depth + 1)]));
    };
    return { message: fill(c.head.skeleton, 0) };
  }
}

/** The part of a runtime.Port (chrome.* or browser.*) webq uses. */
interface PortLike {
  postMessage(message: unknown): void;
  onMessage: { addListener(listener: (message: unknown) => void): void };
}

/** Posts a message on a port, in pieces when it is large. */
export function post(port: PortLike, message: unknown): void {
  for (const m of toPieces(message)) port.postMessage(m);
}

/** Listens on a port, handing whole messages (pieces joined) to `listener`. */
export function listen(port: PortLike, limitBytes: number, listener: (message: unknown) => void): void {
  const joiner = new Joiner(limitBytes);
  port.onMessage.addListener((raw) => {
    const whole = joiner.accept(raw);
    if (whole) listener(whole.message);
  });
}

/** What one message may hold: a request's 64 MiB of tensors plus room for its envelope. */
export const REQUEST_PIECES_LIMIT = 65 * 1024 * 1024;
/** Results may be larger than requests (a model's outputs); still bounded. */
export const RESULT_PIECES_LIMIT = 512 * 1024 * 1024;
