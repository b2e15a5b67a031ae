/**
 * Model downloads (SPEC §3): https hosts, the calling page's own origin, or loopback; credentials omitted;
 * progress reported; abortable; sha256 checked when the page gives one.
 */
import { WebqError } from '../shared/errors';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_MODEL_BYTES = 2 * 1024 ** 3; // wasm32 heap: larger models need external data (not supported yet)

/** Throws NotAllowedError unless `url` may be fetched on behalf of `origin`. Returns the parsed URL. */
export function checkModelUrl(raw: string, origin: string, extensionOrigin?: string): URL {
  let url: URL;
  try { url = new URL(raw); } catch { throw new WebqError('DataError', `model ${JSON.stringify(raw.slice(0, 80))} is neither a registry id nor an absolute URL`); }
  if (url.username || url.password) throw new WebqError('NotAllowedError', 'model URLs must not carry credentials');
  const loopback = LOOPBACK.has(url.hostname) && (url.protocol === 'http:' || url.protocol === 'https:');
  const sameOrigin = url.origin === origin && url.origin !== 'null';
  const fromExtension = extensionOrigin !== undefined && origin === extensionOrigin && url.protocol === 'https:';
  if (url.protocol === 'https:' || loopback || sameOrigin || fromExtension) return url;
  throw new WebqError('NotAllowedError', `model URL ${url.origin} is not allowed: use https, the page's own origin, or localhost`);
}

export interface Downloaded { bytes: Uint8Array; sha256: string }

/** `maxBytes` (default 2 GiB, the largest model) caps what is read: a companion file (tokenizer, config) is far smaller. */
export async function download(url: URL, options: { signal: AbortSignal; sha256?: string; maxBytes?: number; onProgress(loaded: number, total: number): void }): Promise<Downloaded> {
  const max = options.maxBytes ?? MAX_MODEL_BYTES;
  const tooBig = (size: string) => new WebqError('QuotaExceededError', `${url.href} is ${size}; webq reads at most ${max === MAX_MODEL_BYTES ? '2 GiB (models)' : `${Math.round(max / 2 ** 20)} MiB for this file`}`);
  let response: Response;
  try {
    response = await fetch(url, { credentials: 'omit', signal: options.signal, cache: 'no-store', redirect: 'follow', referrerPolicy: 'no-referrer' });
  } catch (err) {
    if (options.signal.aborted) throw new WebqError('AbortError', 'the download was aborted');
    throw new WebqError('NetworkError', `could not download ${url.href}: ${(err as Error).message}`);
  }
  // Redirects are followed by fetch (model hosts redirect to CDNs), so the final URL is checked by the same rule as
  // the first, with the first URL's origin standing for the page's (issue 8): an allowed URL must not redirect
  // the extension — which has host permissions, so no CORS stops it — into a non-loopback http host. The
  // redirected request itself has been made by now (fetch gives no way to veto a hop), but its body is never read.
  if (response.redirected) {
    try {
      checkModelUrl(response.url, url.origin);
    } catch (err) {
      void response.body?.cancel().catch(() => undefined);
      throw new WebqError('NotAllowedError', `model URL ${url.href} redirected to ${new URL(response.url).origin}, which is not allowed: ${(err as Error).message}`);
    }
  }
  if (response.status === 404 || response.status === 410) throw new WebqError('NotFoundError', `model not found: ${url.href} answered HTTP ${response.status}`);
  if (!response.ok) throw new WebqError('NetworkError', `model download failed: ${url.href} answered HTTP ${response.status}`);
  const header = Number(response.headers.get('content-length'));
  const total = Number.isFinite(header) && header > 0 ? header : 0;
  if (total > max) { void discardBody(response); throw tooBig(`${total} bytes`); }
  const reader = response.body?.getReader();
  if (!reader) throw new WebqError('NetworkError', `model download from ${url.href} has no body`);
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      if (loaded > max) { void reader.cancel().catch(() => undefined); throw tooBig(`more than ${max} bytes`); }
      options.onProgress(loaded, total || loaded);
    }
  } catch (err) {
    if (options.signal.aborted) throw new WebqError('AbortError', 'the download was aborted');
    if (err instanceof WebqError) throw err;
    throw new WebqError('NetworkError', `model download from ${url.href} broke off after ${loaded} bytes: ${(err as Error).message}`);
  }
  if (total && loaded !== total) throw new WebqError('NetworkError', `model download from ${url.href} ended at ${loaded} of ${total} bytes`);
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.byteLength; }
  const sha256 = await sha256Hex(bytes);
  if (options.sha256 && options.sha256 !== sha256) {
    throw new WebqError('DataError', `model ${url.href} has sha256 ${sha256}, not the ${options.sha256} the page asked for`);
  }
  return { bytes, sha256 };
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Drops a response's body unread. */
async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}
