/**
 * Which model URLs webq fetches for whom (SPEC §3). webq's engine has host permissions, so no CORS stops its own
 * fetches: the rule here, and the response check in download.ts, stop a page from using webq to reach what the page
 * could not reach itself. A page may name https URLs on public hosts, its own origin, and — only when the page
 * itself is on loopback (a developer's machine) — plain-http loopback. Loopback, private-range and single-label
 * hosts (the intranet) are refused for every other page. The extension's own pages (popup, options) and the
 * user's model host act for the user and keep the wider rule: any https host, or http on loopback.
 */
import { WebqError } from '../shared/errors';

/** Who a download is for: a web page (CORS and the host rule apply) or the user (the extension's own pages). */
export interface Requester {
  origin: string;
  page: boolean;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Name suffixes that only resolve inside a network (RFC 6761/6762/8375, and the ones intranets use). */
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.intranet', '.lan', '.home.arpa', '.corp'];

/** localhost, 127.0.0.1 or [::1]: the three spellings of "this machine" that webq accepts over plain http. */
export function isLoopbackName(hostname: string): boolean {
  return LOOPBACK_NAMES.has(hostname);
}

/**
 * True for hosts a page must not reach through webq: loopback, private and link-local ranges (IPv4 and IPv6,
 * IPv4-mapped too), the unspecified address, names under local suffixes, and single-label names ("intranet").
 */
export function isLocalHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (isLoopbackName(host) || host === 'localhost.') return true;
  if (host.startsWith('[')) return isLocalIpv6(host.slice(1, -1));
  const v4 = ipv4(host);
  if (v4) return isLocalIpv4(v4);
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (!name.includes('.')) return true;
  return LOCAL_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

function ipv4(host: string): number[] | null {
  // The URL parser has already normalised every IPv4 spelling (hex, octal, short forms) to dotted decimal.
  const parts = host.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? bytes : null;
}

function isLocalIpv4([a, b]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 169 && b === 254) ||
    (a === 172 && b! >= 16 && b! <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b! >= 64 && b! <= 127) ||
    a! >= 224
  );
}

function isLocalIpv6(host: string): boolean {
  if (host === '::' || host === '::1') return true;
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return isLocalIpv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  }
  const first = parseInt(host.split(':')[0] || '0', 16);
  // fc00::/7 unique local, fe80::/10 link-local, ff00::/8 multicast.
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}

/** Throws NotAllowedError unless `raw` may be fetched for `requester`. Returns the parsed URL. */
export function checkModelUrl(raw: string, requester: Requester): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebqError(
      'DataError',
      `model ${JSON.stringify(raw.slice(0, 80))} is neither a registry id nor an absolute URL`,
    );
  }
  if (url.username || url.password) throw new WebqError('NotAllowedError', 'model URLs must not carry credentials');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(url);
  const sameOrigin = url.origin === requester.origin && url.origin !== 'null';
  if (sameOrigin) return url;
  const loopbackHttp = url.protocol === 'http:' && isLoopbackName(url.hostname);
  if (!requester.page) {
    if (url.protocol === 'https:' || loopbackHttp) return url;
    throw refused(url);
  }
  const callerOnLoopback = isLoopbackName(new URL(requester.origin).hostname);
  if (isLocalHost(url.hostname)) {
    if (callerOnLoopback && (url.protocol === 'https:' || loopbackHttp)) return url;
    throw new WebqError(
      'NotAllowedError',
      `model URL ${url.origin} is on a local or private network: only pages on localhost may load from there`,
    );
  }
  if (url.protocol === 'https:') return url;
  throw refused(url);
}

function refused(url: URL): WebqError {
  return new WebqError(
    'NotAllowedError',
    `model URL ${url.protocol}//${url.host} is not allowed: use https, the page's own origin, or localhost from a localhost page`,
  );
}

/**
 * A page may be handed a response only if it could have read it itself: same origin as the page, or a CORS
 * response that allows every origin or this one. Credentials are always omitted, so `*` suffices.
 */
export function corsAllows(response: { url: string; headers: Headers }, pageOrigin: string): boolean {
  try {
    if (new URL(response.url).origin === pageOrigin) return true;
  } catch {
    return false;
  }
  const allowed = response.headers.get('access-control-allow-origin')?.trim();
  return allowed === '*' || allowed === pageOrigin;
}
