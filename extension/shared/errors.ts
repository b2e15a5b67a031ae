/**
 * Error names of the page API (SPEC §2). Every failure crosses the hops as `{ name, message }` and becomes an
 * `Error` with that name again on the page, so `err.name === 'DataError'` works wherever it was thrown.
 */
export const ERROR_NAMES = Object.freeze([
  'NotAllowedError',
  'NotSupportedError',
  'AbortError',
  'DataError',
  'NotFoundError',
  'NetworkError',
  'QuotaExceededError',
  'TimeoutError',
  'OperationError',
] as const);
export type ErrorName = (typeof ERROR_NAMES)[number];

export interface WireError {
  name: ErrorName;
  message: string;
}

export class WebqError extends Error {
  override readonly name: ErrorName;
  constructor(name: ErrorName, message: string) {
    super(message);
    this.name = name;
  }
}

export const dataError = (message: string) => new WebqError('DataError', message);

export function isErrorName(value: unknown): value is ErrorName {
  return typeof value === 'string' && (ERROR_NAMES as readonly string[]).includes(value);
}

/** Anything thrown (ours, ORT's, the browser's) → a wire error; unknown failures are engine failures. */
export function toWireError(err: unknown): WireError {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as { name?: unknown; message?: unknown };
    const message = String(e.message ?? 'unknown error').slice(0, 2000);
    if (isErrorName(e.name)) return { name: e.name, message };
    // DOMExceptions from fetch/IndexedDB/WebGPU keep their meaning where SPEC has the same name.
    if (e.name === 'QuotaExceededError' || e.name === 'AbortError') return { name: e.name, message };
    return { name: 'OperationError', message: `${String(e.name ?? 'Error')}: ${message}` };
  }
  return { name: 'OperationError', message: String(err).slice(0, 2000) };
}

export function fromWireError(wire: WireError): Error {
  const err = new Error(wire.message);
  err.name = isErrorName(wire.name) ? wire.name : 'OperationError';
  return err;
}
