/**
 * How messages with tensors cross a runtime port (content script ↔ router ↔ engine host, popup ↔ engine host).
 *
 * A message whose typed arrays hold at least `BLOB_FROM_BYTES` goes with its arrays moved into one Blob, and the
 * receiver reads each array back from its slice of the Blob into an ArrayBuffer of its own. Chrome's extension
 * messaging serializes a typed array into the message and copies it through the browser process; a Blob crosses as a
 * reference and its bytes are read once: 1 MiB each way between a page and the offscreen document costs 17–20 ms
 * outside inference as a Blob against 24–27 ms in the message (`bench/call-overhead.ts --floats 262144`,
 * docs/architecture.md). Small calls (a Silero frame is 2 KiB) stay plain messages, which need no asynchronous read.
 * A Blob message is also far below Chrome's 64 MiB per message, so a request with the 64 MiB of tensors SPEC
 * promises needs no splitting.
 *
 * Reading a Blob is asynchronous, so `listen` delivers in the order the port delivered: a message that arrives while
 * an earlier one is being read waits for it; with nothing being read a message is delivered at once. A Blob message
 * that is malformed or declares more than the receiver's limit is dropped, as the message pieces were before it
 * (senders check sizes first: the page client refuses a request above 64 MiB with QuotaExceededError).
 *
 * A port that says it is `plain` (Chrome's direct port once on its MessageChannel, channel-port.ts) needs no Blob:
 * its messages go as they are, their arrays moved, and a plain message is held to the same limit when it arrives.
 * The helpers for moving arrays (`transferList`, `postMoving`, `withOwnArrays`) are here too, for every hop with a
 * `postMessage` that can move them.
 */

/** What one message may hold: a request's 64 MiB of tensors plus room for its envelope. */
export const REQUEST_BYTES_LIMIT = 65 * 1024 * 1024;
/** Results may be larger than requests (a model's outputs); still bounded. */
export const RESULT_BYTES_LIMIT = 512 * 1024 * 1024;
/** From how many bytes of arrays a message sends them as a Blob. */
export const BLOB_FROM_BYTES = 128 * 1024;

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

/** A message whose arrays travel in `blob`; `skeleton` holds `{ $array: i }` where array i was. */
interface BlobMessage {
  type: 'webq-blob';
  skeleton: unknown;
  arrays: { kind: ArrayKind; bytes: number }[];
  blob: Blob;
}

const MAX_DEPTH = 8;
const tagOf = (v: unknown) => Object.prototype.toString.call(v).slice(8, -1);
const isArray = (v: unknown): v is ArrayBufferView => ArrayBuffer.isView(v) && tagOf(v) in ARRAYS;

function arrayBytes(value: unknown, depth = 0): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return 0;
  let sum = 0;
  for (const v of Object.values(value)) sum += arrayBytes(v, depth + 1);
  return sum;
}

/** The message as it goes on a port: itself when its arrays are small, else with them in one Blob. */
export function toWire(message: unknown): unknown {
  if (arrayBytes(message) < BLOB_FROM_BYTES) return message;
  const arrays: ArrayBufferView[] = [];
  const strip = (value: unknown, depth: number): unknown => {
    if (isArray(value)) {
      arrays.push(value);
      return { $array: arrays.length - 1 };
    }
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
    if (Array.isArray(value)) return value.map((v) => strip(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strip(v, depth + 1)]));
  };
  const skeleton = strip(message, 0);
  // The Blob copies the bytes now: the sender may reuse or transfer its arrays once this returns.
  const parts = arrays.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength) as Uint8Array<ArrayBuffer>);
  const wire: BlobMessage = {
    type: 'webq-blob',
    skeleton,
    arrays: arrays.map((a) => ({ kind: tagOf(a) as ArrayKind, bytes: a.byteLength })),
    blob: new Blob(parts),
  };
  return wire;
}

function isBlobMessage(raw: unknown): raw is { type: 'webq-blob' } {
  return typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'webq-blob';
}

/**
 * The message a port delivered, arrays read back from the Blob where it has one (each into its own ArrayBuffer, so
 * a receiver may transfer them onward one by one). Rejects a Blob message that is malformed or holds more than
 * `limitBytes`.
 */
export async function fromWire(raw: unknown, limitBytes: number): Promise<unknown> {
  if (!isBlobMessage(raw)) return raw;
  const { arrays, blob, skeleton } = raw as Partial<BlobMessage>;
  if (!Array.isArray(arrays) || !(blob instanceof Blob)) throw new Error('a Blob message without arrays or Blob');
  let total = 0;
  for (const a of arrays) {
    if (!(a?.kind in ARRAYS) || !Number.isSafeInteger(a.bytes) || a.bytes < 0)
      throw new Error('a Blob message with an array it cannot read');
    total += a.bytes;
  }
  if (total > limitBytes) throw new Error(`a Blob message of ${total} bytes, above the limit of ${limitBytes}`);
  if (total !== blob.size) throw new Error(`a Blob message declaring ${total} bytes in a Blob of ${blob.size}`);
  let offset = 0;
  const reads = arrays.map((a) => {
    const start = offset;
    offset += a.bytes;
    return blob.slice(start, offset).arrayBuffer();
  });
  const values = (await Promise.all(reads)).map((buffer, i) => {
    const Kind = ARRAYS[arrays[i]!.kind] as unknown as new (buffer: ArrayBuffer) => ArrayBufferView;
    return new Kind(buffer);
  });
  const fill = (value: unknown, depth: number): unknown => {
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
    if (Array.isArray(value)) return value.map((v) => fill(v, depth + 1));
    const o = value as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.$array === 'number') return values[o.$array] ?? null;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fill(v, depth + 1)]));
  };
  return fill(skeleton, 0);
}

/** An array or a plain object: what the two walks below go into (both alike, so nothing copied is left unmoved). */
function isRecord(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return Array.isArray(value) || proto === Object.prototype || proto === null;
}

/**
 * The ArrayBuffers behind a message's typed arrays, each once, for a `postMessage` transfer list: where the sender
 * hands its arrays on and keeps no use for them, moving them skips the structured-clone copy. Shared memory is left
 * out (it cannot move), and a list the browser refuses (a view of wasm memory) is retried without (`postMoving`).
 */
export function transferList(message: unknown): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const walk = (value: unknown, depth: number) => {
    if (ArrayBuffer.isView(value)) {
      if (value.buffer instanceof ArrayBuffer) buffers.add(value.buffer); // a SharedArrayBuffer cannot be moved
      return;
    }
    if (!isRecord(value) || depth > MAX_DEPTH) return;
    for (const v of Object.values(value)) walk(v, depth + 1);
  };
  walk(message, 0);
  return [...buffers];
}

/**
 * Posts `message` moving its arrays' buffers; one that cannot be moved (a view of wasm memory, say) makes the browser
 * refuse the whole list before anything is sent, and then the message goes cloned.
 */
export function postMoving(send: (message: unknown, transfer: Transferable[]) => void, message: unknown): void {
  const transfer = transferList(message);
  if (transfer.length === 0) return send(message, []);
  try {
    send(message, transfer);
  } catch (err) {
    if ((err as { name?: unknown } | null)?.name !== 'DataCloneError') throw err;
    send(message, []);
  }
}

/** The message with each typed array replaced by a copy of its own: for moving what the caller still holds. */
export function withOwnArrays<T>(message: T): T {
  const copy = (value: unknown, depth: number): unknown => {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return (value as unknown as Uint8Array).slice();
    if (!isRecord(value) || depth > MAX_DEPTH) return value;
    if (Array.isArray(value)) return value.map((v) => copy(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v, depth + 1)]));
  };
  return copy(message, 0) as T;
}

/** The part of a runtime.Port (chrome.* or browser.*) webq uses. */
interface PortLike {
  postMessage(message: unknown): void;
  onMessage: { addListener(listener: (message: unknown) => void): void };
  /** True while the port's messages go on a MessageChannel (channel-port.ts): arrays travel as they are. */
  readonly plain?: boolean;
}

/** Posts a message on a port, its arrays in a Blob when they are large (unless the port carries them plainly). */
export function post(port: PortLike, message: unknown): void {
  port.postMessage(port.plain === true ? message : toWire(message));
}

/**
 * Listens on a port, handing each message to `listener` with its arrays read back, in the order they arrived. A
 * listener that throws does not stop the next message.
 */
export function listen(port: PortLike, limitBytes: number, listener: (message: unknown) => void): void {
  const deliver = (message: unknown) => {
    try {
      listener(message);
    } catch (err) {
      console.error('webq: a port message listener threw', err);
    }
  };
  let reading = 0;
  let queue: Promise<void> = Promise.resolve();
  port.onMessage.addListener((raw) => {
    if (!isBlobMessage(raw)) {
      // A plain message over a MessageChannel has no browser-imposed size limit: hold it to this one too.
      const bytes = arrayBytes(raw);
      if (bytes > limitBytes) {
        console.warn(`webq: dropped a port message of ${bytes} bytes, above the limit of ${limitBytes}`);
        return;
      }
      if (reading === 0) {
        deliver(raw);
        return;
      }
    }
    reading++;
    const read = fromWire(raw, limitBytes); // reads start at once, in parallel; delivery keeps the order
    queue = queue
      .then(() => read)
      .then(deliver, (err: unknown) => console.warn('webq: dropped a port message:', err))
      .finally(() => reading--);
  });
}
