/**
 * Chrome's engine host: the offscreen document. It connects to the service worker with a port, serves the
 * requests that arrive on it, sends keep-alive pings while the engine has work (so the worker stays awake through
 * long loads and runs), and reconnects if the worker was restarted.
 *
 * The other end is the worker's OffscreenLink (background/offscreen-link.ts), the one PortLink of that hop: it keeps
 * the in-flight table and fails it when this port closes. Messages arrive already checked by the router, with the
 * caller it stamped, so they are not validated again here. Replies go to the port their request came on and nowhere
 * else: a restarted worker numbers its requests from 1 again, so a late reply on a new port could answer the wrong one.
 */
import { Engine } from './engine';
import { browserInfo } from './browser-info';
import { ENGINE_PORT } from '../shared/ports';
import type { EngineEnvelope, HostMessage } from '../shared/protocol';
import { listen, post, REQUEST_PIECES_LIMIT } from '../shared/pieces';

const engine = new Engine({ browser: browserInfo(), extensionOrigin: new URL(chrome.runtime.getURL('')).origin });
const KEEPALIVE_MS = 20_000;

function connect(): void {
  const port = chrome.runtime.connect({ name: ENGINE_PORT });
  const emit = (m: HostMessage) => {
    try {
      post(port, m);
    } catch {
      /* the worker went away; it fails its requests itself */
    }
  };
  const timer = setInterval(() => {
    if (engine.busy) port.postMessage({ type: 'keepalive' });
  }, KEEPALIVE_MS);
  listen(port, REQUEST_PIECES_LIMIT, (raw) => {
    // The service worker's watchdog: an answer shows this document's thread is alive (offscreen-link.ts).
    if ((raw as { type?: unknown } | null)?.type === 'ping') {
      port.postMessage({ type: 'pong' });
      return;
    }
    const { message, caller } = raw as EngineEnvelope;
    engine.receive(message, caller, emit);
  });
  port.onDisconnect.addListener(() => {
    clearInterval(timer);
    setTimeout(connect, 100);
  });
}

connect();
