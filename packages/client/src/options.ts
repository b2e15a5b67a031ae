/** The client's own options (not the page API's per-call options), validated where they enter, with the field named. */
import { dataError } from '../../../extension/shared/errors';

export type HostKind = 'extension' | 'page';

export interface WebqClientOptions {
  /**
   * Where calls run: 'auto' (default) uses the webq extension when it is installed and compatible, and the in-page
   * engine otherwise; 'extension' never falls back (calls reject with NotSupportedError without it); 'page' always
   * runs in the page.
   */
  host?: 'auto' | HostKind;
  /** In-page engine: the model host registry ids download from (default https://huggingface.co). */
  modelHost?: string;
  /**
   * In-page engine: the URL of onnxruntime-web's `ort-wasm-simd-threaded.asyncify.wasm`, for bundlers that do not
   * emit the file the package references with `new URL(…, import.meta.url)` (Vite, webpack 5 and Rollup do).
   */
  wasmUrl?: string;
}

export interface CheckedOptions {
  host: 'auto' | HostKind;
  modelHost?: string;
  wasmUrl?: string;
}

export function checkClientOptions(options: unknown): CheckedOptions {
  if (options === undefined) return { host: 'auto' };
  if (typeof options !== 'object' || options === null) throw dataError('client options must be an object');
  const { host = 'auto', modelHost, wasmUrl, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined)
    throw dataError(
      `client option ${JSON.stringify(unknown.slice(0, 60))} is unknown; it takes host, modelHost, wasmUrl`,
    );
  if (host !== 'auto' && host !== 'extension' && host !== 'page')
    throw dataError("client option host must be 'auto', 'extension' or 'page'");
  const url = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !URL.canParse(value, globalThis.location?.href))
      throw dataError(`client option ${field} must be a URL string`);
    return new URL(value, globalThis.location?.href).href;
  };
  return { host, modelHost: url(modelHost, 'modelHost'), wasmUrl: url(wasmUrl, 'wasmUrl') };
}
