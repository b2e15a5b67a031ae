/**
 * A local static server for browser tests and the demo: test pages, and model files under the model host's
 * path layout. Binds 127.0.0.1 on a free port. Routes are a map of URL path → file or bytes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.png': 'image/png',
  '.txt': 'text/plain',
};

export type Route =
  | string
  | Uint8Array
  | ((url: URL) => { status: number; body: Uint8Array | string; type?: string; headers?: Record<string, string> })
  | { raw(req: IncomingMessage, res: ServerResponse): void };

export interface TestServer {
  origin: string;
  close(): Promise<void>;
  routes: Map<string, Route>;
  hits: Map<string, number>;
}

/**
 * `cors: false` serves every response without `Access-Control-Allow-Origin` (a server a page may not read across
 * origins: an intranet host, another developer server); a function route may still add the header itself.
 * `isolated: true` adds COOP/COEP (and CORP on every response), so its pages are cross-origin isolated.
 */
export async function startServer(
  routes: Record<string, Route> = {},
  port = 0,
  options: { cors?: boolean; isolated?: boolean } = {},
): Promise<TestServer> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const route = table.get(url.pathname);
    const headers: Record<string, string> =
      options.cors === false
        ? { 'cache-control': 'no-store' }
        : { 'access-control-allow-origin': '*', 'cache-control': 'no-store' };
    if (options.isolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
      headers['cross-origin-resource-policy'] = 'cross-origin';
    }
    if (route === undefined) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    if (typeof route === 'object' && 'raw' in route) {
      route.raw(req, res);
      return;
    }
    if (typeof route === 'function') {
      const r = route(url);
      res
        .writeHead(r.status, { ...headers, 'content-type': r.type ?? 'application/octet-stream', ...r.headers })
        .end(r.body);
      return;
    }
    const body = typeof route === 'string' ? readFileSync(route) : route;
    const type =
      typeof route === 'string' ? (TYPES[extname(route)] ?? 'application/octet-stream') : 'application/octet-stream';
    res.writeHead(200, { ...headers, 'content-type': type, 'content-length': String(body.byteLength) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    routes: table,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A blank page for tests: webq's content scripts run on it (a localhost page is a secure context). */
export const BLANK_PAGE =
  (title = 'webq test page') =>
  () => ({
    status: 200,
    type: 'text/html; charset=utf-8',
    body: `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1></body></html>`,
  });

/** A route that sends `bytes` slowly (chunk by chunk with pauses): for progress and abort tests. */
export function slowRoute(bytes: Uint8Array, chunk = 64 * 1024, pauseMs = 100): Route {
  return {
    raw(_req, res) {
      res.writeHead(200, {
        'access-control-allow-origin': '*',
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.byteLength),
      });
      let offset = 0;
      const timer = setInterval(() => {
        if (res.destroyed) {
          clearInterval(timer);
          return;
        }
        res.write(bytes.subarray(offset, offset + chunk));
        offset += chunk;
        if (offset >= bytes.byteLength) {
          clearInterval(timer);
          res.end();
        }
      }, pauseMs);
      res.on('close', () => clearInterval(timer));
    },
  };
}
