/**
 * Chrome's engine host: the offscreen document. It connects to the service worker with a port, serves the
 * requests that arrive on it, sends keep-alive pings while work is in flight (so the worker stays awake through
 * long loads and runs), and reconnects if the worker was restarted.
 */
import { Engine } from './engine';
import { browserInfo } from './browser-info';
import { ENGINE_PORT } from '../shared/ports';
import type { EngineEnvelope } from '../background/offscreen-link';
import { isFinal, validateClientMessage, type HostMessage } from '../shared/protocol';
import { toWireError } from '../shared/errors';
import { listen, post, REQUEST_PIECES_LIMIT } from '../shared/pieces';

const engine = new Engine({ browser: browserInfo(), extensionOrigin: new URL(chrome.runtime.getURL('')).origin });
const inFlight = new Set<string>();
const KEEPALIVE_MS = 20_000;

function connect(): void {
  const port = chrome.runtime.connect({ name: ENGINE_PORT });
  const emit = (m: HostMessage) => {
    if (isFinal(m)) inFlight.delete(m.id);
    try {
      post(port, m);
    } catch {
      /* the worker went away; it fails its requests itself */
    }
  };
  const timer = setInterval(() => {
    if (inFlight.size > 0) port.postMessage({ type: 'keepalive' });
  }, KEEPALIVE_MS);
  listen(port, REQUEST_PIECES_LIMIT, (raw) => {
    // The service worker's watchdog: an answer shows this document's thread is alive (offscreen-link.ts).
    if ((raw as { type?: unknown } | null)?.type === 'ping') {
      port.postMessage({ type: 'pong' });
      return;
    }
    const envelope = raw as EngineEnvelope | null;
    let message;
    try {
      message = validateClientMessage(envelope?.message);
    } catch (err) {
      const id = envelope?.message?.id;
      if (typeof id === 'string') emit({ type: 'error', id, error: toWireError(err) });
      return;
    }
    const caller = envelope?.caller;
    if (!caller || typeof caller.origin !== 'string') return;
    if (message.type === 'request') inFlight.add(message.id);
    engine.receive(
      message,
      {
        origin: caller.origin,
        tabId: caller.tabId,
        topOrigin: typeof caller.topOrigin === 'string' ? caller.topOrigin : undefined,
      },
      emit,
    );
  });
  port.onDisconnect.addListener(() => {
    clearInterval(timer);
    inFlight.clear();
    setTimeout(connect, 100);
  });
}

connect();
