/**
 * Is webq's extension here, and does it speak this client's API? The extension's MAIN-world script defines
 * `window.webq` at document_start, before any page script, so a synchronous look is enough. Versions are
 * compatible when they share the major number (and the minor one while the major is 0, as semver has it).
 */
import type { Webq } from '../../../extension/page/client';

export type Detection = { webq: Webq; reason?: undefined } | { webq: null; reason: string };

const VERSION = /^(\d+)\.(\d+)\.(\d+)/;

/**
 * Marks every @webq/client client (a registered symbol, so a second copy of the package in the same page knows it
 * too). A page may set `window.webq = client` for code written against the extension's global; a client that took
 * such a `window.webq` for the extension would forward every call to itself, without end.
 */
export const CLIENT_BRAND: unique symbol = Symbol.for('@webq/client') as never;

/** Whether an extension of version `theirs` serves a client of version `ours`. */
export function compatibleVersions(ours: string, theirs: string): boolean {
  const a = VERSION.exec(ours);
  const b = VERSION.exec(theirs);
  if (!a || !b) return false;
  if (a[1] !== b[1]) return false;
  return a[1] !== '0' || a[2] === b[2];
}

/** The extension's `window.webq` when it is present and compatible; otherwise why not. */
export function detectExtension(version: string, scope: unknown = globalThis): Detection {
  const candidate = (scope as { webq?: unknown } | null)?.webq as Partial<Webq> | undefined;
  if (candidate === undefined || candidate === null)
    return { webq: null, reason: 'the webq extension is not installed' };
  if (typeof candidate !== 'object' || typeof candidate.run !== 'function' || typeof candidate.version !== 'string')
    return { webq: null, reason: 'window.webq is not the webq extension' };
  if (CLIENT_BRAND in candidate)
    return { webq: null, reason: 'window.webq is a @webq/client client, not the webq extension' };
  if (!compatibleVersions(version, candidate.version))
    return {
      webq: null,
      reason: `the webq extension is version ${candidate.version.slice(0, 40)}; this client (${version}) needs a compatible one`,
    };
  return { webq: candidate as Webq };
}
