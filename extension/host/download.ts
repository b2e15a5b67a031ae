/**
 * Model downloads (SPEC §3): credentials omitted, no referrer, abortable, with progress. For a page's call a
 * response is read only when the page could have read it itself (url-rule.ts corsAllows), checked on the final
 * response before any byte, size or progress is reported; errors never carry the target's bytes, hash or status
 * text. All downloads share global limits — how many run at once, how many bytes they hold, how long one may stall
 * or last — so no site can exhaust the engine host that serves every site.
 *
 * A body is written to IndexedDB as it arrives (storage/staging.ts), in chunks of `DOWNLOAD_LIMITS.chunkBytes`:
 * the one buffer a download fills is a chunk, and it waits for each chunk's write before it reads on, so a slow or
 * stalled download holds a chunk of memory, not its file. Each chunk's sha256 and the whole body's are computed as
 * it arrives. `download` then reads the body back as one buffer (the caller must parse it, and onnxruntime needs a
 * graph whole); `downloadToDisk` hands over only the staged chunks (a model's external data, read in pieces by
 * storage/stored-file.ts). Either way the caller commits the chunks to the cache after validating the bytes
 * (model-cache.ts commitStaged) or discards them. A download that fails — refused, broken off, aborted, timed out,
 * too big, wrong sha256 — leaves no staged chunk behind.
 */
import { WebqError } from '../shared/errors';
import { sha256Hex, sha256Stream } from '../shared/sha256';
import {
  discardStaged,
  putStagedChunk,
  readStaged,
  stagingId,
  sweepStaging,
  type StagedFile,
} from '../storage/staging';
import { checkModelUrl, corsAllows, type Requester } from './url-rule';

const MAX_MODEL_BYTES = 2 * 1024 ** 3; // protobuf's cap on one graph: larger models keep weights in external data

/**
 * Global download limits. Mutable so tests in the engine's own context can lower them; pages cannot reach it.
 * `bytesInFlight` counts bytes downloaded (staged) and not yet handed to the caller, across every download a page
 * asked for (a URL it named); `userBytesInFlight` the same for the user's downloads (registry models, which the
 * extension lists and whose data files can be larger: Llama-3.2-1B's is 4.9 GB). A download may take `totalMs`;
 * the user's may take longer when they declare a size that needs it at `userMinBytesPerSecond` (4.9 GB at 1 MiB/s
 * is 78 min), so a large registry file loads over a slow connection while a page's URL cannot hold a download open
 * for hours. `chunkBytes` is the most one download buffers in memory before writing it to IndexedDB.
 */
export const DOWNLOAD_LIMITS = {
  concurrent: 4,
  bytesInFlight: 4 * 1024 ** 3,
  userBytesInFlight: 16 * 1024 ** 3,
  idleMs: 30_000,
  totalMs: 20 * 60_000,
  userMinBytesPerSecond: 1024 ** 2,
  chunkBytes: 8 * 1024 ** 2,
};

export interface Downloaded {
  bytes: Uint8Array;
  sha256: string;
  /** The body's chunks in the staging store: commit them (model-cache.ts commitStaged) or discardStaged(id). */
  staged: StagedFile;
}

/** A download left on disk: only its staged chunks (storage/stored-file.ts reads them in pieces). */
export type DownloadedToDisk = Omit<Downloaded, 'bytes'>;

export interface DownloadOptions {
  signal: AbortSignal;
  /** Who asked: a page's download must pass the CORS check; the user's (extension pages, registry) need not. */
  requester: Requester;
  sha256?: string;
  /** Default 2 GiB, the largest model: a companion file (tokenizer, config) is far smaller. */
  maxBytes?: number;
  onProgress(loaded: number, total: number): void;
}

/** Downloads a file and reads it back whole. */
export async function download(url: URL, options: DownloadOptions): Promise<Downloaded> {
  const onDisk = await downloadToDisk(url, options);
  const { staged } = onDisk;
  const bytes = await readStaged(staged.id, staged.chunks, staged.size);
  if (!bytes) {
    await discardStaged(staged.id).catch(() => undefined);
    throw new WebqError('NetworkError', `the download of ${url.href} was lost from disk; try again`);
  }
  return { ...onDisk, bytes };
}

/** Downloads a file into the staging store, never holding more than a chunk of it in memory. */
export async function downloadToDisk(url: URL, options: DownloadOptions): Promise<DownloadedToDisk> {
  const release = await slots.take(options.signal);
  try {
    return await downloadNow(url, options);
  } finally {
    release();
  }
}

async function downloadNow(url: URL, options: DownloadOptions): Promise<DownloadedToDisk> {
  const { requester } = options;
  const max = options.maxBytes ?? MAX_MODEL_BYTES;
  const tooBig = () =>
    new WebqError(
      'QuotaExceededError',
      `model file ${url.href} is larger than webq reads (${max === MAX_MODEL_BYTES ? '2 GiB for a model' : `${Math.round(max / 2 ** 20)} MiB for this file`})`,
    );
  // One controller ends the fetch on the caller's abort, on the total time limit, and on a stalled body.
  const controller = new AbortController();
  let timedOut: string | null = null;
  const stop = (reason: string) => {
    timedOut = reason;
    controller.abort();
  };
  const onAbort = () => controller.abort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const started = Date.now();
  const limit = (ms: number) =>
    setTimeout(() => stop(`took longer than ${Math.round(ms / 1000)} s`), ms - (Date.now() - started));
  let total = limit(DOWNLOAD_LIMITS.totalMs);
  let idle = setTimeout(() => stop(`sent nothing for ${DOWNLOAD_LIMITS.idleMs / 1000} s`), DOWNLOAD_LIMITS.idleMs);
  const heard = () => {
    clearTimeout(idle);
    idle = setTimeout(() => stop(`sent nothing for ${DOWNLOAD_LIMITS.idleMs / 1000} s`), DOWNLOAD_LIMITS.idleMs);
  };
  const failure = (generic: WebqError): WebqError => {
    if (options.signal.aborted) return new WebqError('AbortError', 'the download was aborted');
    if (timedOut) return new WebqError('TimeoutError', `model download from ${url.origin} ${timedOut}`);
    return generic;
  };
  let held = 0;
  const inFlight = requester.page ? bytesInFlight : userBytesInFlight;
  // The staged chunks are handed to the caller only with a successful result; every other exit drops them.
  const id = stagingId();
  let committed = false;
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        credentials: 'omit',
        signal: controller.signal,
        cache: 'no-store',
        redirect: 'follow',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      throw failure(new WebqError('NetworkError', `could not download ${url.href}`));
    }
    heard();
    // The final URL passes the same rule as the first, for the same requester (fetch follows redirects itself and
    // gives no way to veto a hop, so the hop's request has been made; its body is never read).
    if (response.redirected) {
      try {
        checkModelUrl(response.url, requester);
      } catch {
        void response.body?.cancel().catch(() => undefined);
        throw new WebqError('NotAllowedError', `model URL ${url.href} redirected to a location that is not allowed`);
      }
    }
    if (requester.page && !corsAllows(response, requester.origin)) {
      void response.body?.cancel().catch(() => undefined);
      throw new WebqError(
        'NotAllowedError',
        `model URL ${url.href} is not readable by ${requester.origin}: webq reads for a page only what the page could read itself (same origin, or Access-Control-Allow-Origin: * or the page's origin)`,
      );
    }
    if (response.status === 404 || response.status === 410) {
      void response.body?.cancel().catch(() => undefined);
      throw new WebqError('NotFoundError', `model not found: ${url.href} (HTTP ${response.status})`);
    }
    if (!response.ok) {
      void response.body?.cancel().catch(() => undefined);
      throw new WebqError('NetworkError', `model download failed: ${url.href} (HTTP ${response.status})`);
    }
    const header = Number(response.headers.get('content-length'));
    const expected = Number.isFinite(header) && header > 0 ? header : 0;
    const needs = (expected / DOWNLOAD_LIMITS.userMinBytesPerSecond) * 1000;
    if (!requester.page && needs > DOWNLOAD_LIMITS.totalMs) {
      clearTimeout(total);
      total = limit(needs);
    }
    if (expected > max) {
      void response.body?.cancel().catch(() => undefined);
      throw tooBig();
    }
    const reader = response.body?.getReader();
    if (!reader) throw new WebqError('NetworkError', `model download from ${url.href} has no body`);
    await sweepStaging(); // leftovers of a previous engine go before this one writes
    // The one buffer this download fills: a chunk, or the whole file when it says it is smaller.
    const buffer = new Uint8Array(Math.min(DOWNLOAD_LIMITS.chunkBytes, expected || DOWNLOAD_LIMITS.chunkBytes));
    let filled = 0;
    let chunks = 0;
    let loaded = 0;
    const whole = await sha256Stream();
    const chunkSha256: string[] = [];
    const flush = async () => {
      if (filled === 0) return;
      const chunk = filled === buffer.byteLength ? buffer : buffer.subarray(0, filled);
      whole.update(chunk);
      chunkSha256.push(await sha256Hex(chunk));
      try {
        await putStagedChunk(id, chunks, chunk);
      } catch (err) {
        void reader.cancel().catch(() => undefined);
        throw new WebqError(
          'QuotaExceededError',
          `webq could not write the download of ${url.href} to disk (${(err as Error)?.name ?? 'error'})`,
        );
      }
      chunks++;
      memory.drain(filled);
      filled = 0;
    };
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        heard();
        loaded += value.byteLength;
        if (loaded > max) {
          void reader.cancel().catch(() => undefined);
          throw tooBig();
        }
        if (!inFlight.add(value.byteLength)) {
          void reader.cancel().catch(() => undefined);
          throw new WebqError(
            'QuotaExceededError',
            'webq is downloading too much at once; try again when other models have loaded',
          );
        }
        held += value.byteLength;
        // Copy into the buffer, writing it out each time it is full: the stream is not read while a chunk is written.
        for (let offset = 0; offset < value.byteLength;) {
          const n = Math.min(buffer.byteLength - filled, value.byteLength - offset);
          buffer.set(value.subarray(offset, offset + n), filled);
          filled += n;
          memory.fill(n, filled);
          offset += n;
          if (filled === buffer.byteLength) await flush();
        }
        options.onProgress(loaded, expected || loaded);
      }
      await flush();
    } catch (err) {
      if (err instanceof WebqError) throw failure(err);
      throw failure(new WebqError('NetworkError', `model download from ${url.href} broke off after ${loaded} bytes`));
    } finally {
      memory.drain(filled);
    }
    if (expected && loaded !== expected)
      throw new WebqError('NetworkError', `model download from ${url.href} ended at ${loaded} of ${expected} bytes`);
    const sha256 = whole.hex();
    if (options.sha256 && options.sha256 !== sha256) {
      throw new WebqError(
        'DataError',
        requester.page
          ? `model ${url.href} does not match the sha256 the page gave`
          : `model file ${url.href} does not match its pinned sha256`,
      );
    }
    committed = true;
    return { sha256, staged: { id, size: loaded, chunks, sha256, chunkBytes: buffer.byteLength, chunkSha256 } };
  } finally {
    clearTimeout(total);
    clearTimeout(idle);
    options.signal.removeEventListener('abort', onAbort);
    inFlight.remove(held);
    if (!committed) await discardStaged(id).catch(() => undefined);
  }
}

/** The bytes downloads hold, against a cap: pages' downloads share one, the user's another. */
class BytesInFlight {
  used = 0;
  constructor(private readonly cap: () => number) {}
  add(n: number): boolean {
    if (this.used + n > this.cap()) return false;
    this.used += n;
    return true;
  }
  remove(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}
const bytesInFlight = new BytesInFlight(() => DOWNLOAD_LIMITS.bytesInFlight);
const userBytesInFlight = new BytesInFlight(() => DOWNLOAD_LIMITS.userBytesInFlight);

/** A counting semaphore for downloads; waiting is abortable. A released slot passes straight to the next waiter. */
const slots = {
  running: 0,
  waiting: [] as (() => void)[],
  async take(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw new WebqError('AbortError', 'the download was aborted');
    if (this.running < DOWNLOAD_LIMITS.concurrent) {
      this.running++;
    } else {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          this.waiting = this.waiting.filter((w) => w !== go);
          reject(new WebqError('AbortError', 'the download was aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(go);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  },
};

/**
 * The bytes downloads hold in memory, counted where they are held: what sits in a download's buffer, not yet
 * written to IndexedDB (besides it, only the piece the stream has just handed over, whose size the network stack
 * picks). `peak` is the most one download's buffer has held since the last `downloadMemoryPeak(true)`.
 */
const memory = {
  buffered: 0,
  peak: 0,
  fill(n: number, filled: number): void {
    this.buffered += n;
    this.peak = Math.max(this.peak, filled);
  },
  drain(n: number): void {
    this.buffered = Math.max(0, this.buffered - n);
  },
};

/** For tests: the most bytes one download has buffered in memory; `reset` starts a new measurement. */
export function downloadMemoryPeak(reset = false): number {
  const peak = memory.peak;
  if (reset) memory.peak = 0;
  return peak;
}

/** For tests: how many downloads run and wait, the bytes they hold (staged), and what they buffer in memory. */
export function downloadLoad(): { running: number; waiting: number; bytes: number; buffered: number } {
  return {
    running: slots.running,
    waiting: slots.waiting.length,
    bytes: bytesInFlight.used + userBytesInFlight.used,
    buffered: memory.buffered,
  };
}
