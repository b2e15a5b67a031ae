/**
 * Chrome's engine host: the offscreen document. It connects to the service worker with a port, serves the
 * requests that arrive on it, sends keep-alive pings while the engine has work (so the worker stays awake through
 * long loads and runs), and reconnects if the worker was restarted. Pages' bridges may also connect here directly
 * once the router has granted their origin (direct-ports.ts, shared/direct.ts).
 *
 * The worker's end is its OffscreenLink (background/offscreen-link.ts), the one PortLink of that hop: it keeps
 * the in-flight table and fails it when this port closes. Messages arrive already checked by the router, with the
 * caller it stamped, so they are not validated again here. Replies go to the port their request came on and nowhere
 * else: a restarted worker numbers its requests from 1 again, so a late reply on a new port could answer the wrong one.
 */
import { Engine } from './engine';
import { browserInfo } from './browser-info';
import { DirectPorts } from './direct-ports';
import { ENGINE_PORT } from '../shared/ports';
import type { EngineEnvelope, HostMessage } from '../shared/protocol';
import { isSignal, type BusySignal, type RevokeSignal } from '../shared/direct';
import { listen, post, REQUEST_BYTES_LIMIT } from '../shared/port-wire';
import { handoffIn } from '../shared/channel-port';

const extension = { id: chrome.runtime.id, origin: new URL(chrome.runtime.getURL('')).origin };
const engine = new Engine({ browser: browserInfo(), extensionOrigin: extension.origin });
const KEEPALIVE_MS = 20_000;

/** The port to the service worker now, for the direct path's busy reports. */
let worker: chrome.runtime.Port | null = null;
const direct = new DirectPorts(engine, extension, (signal) => {
  try {
    worker?.postMessage(signal);
  } catch {
    /* the worker went away; the next port reports again */
  }
});
chrome.runtime.onConnect.addListener((port) => direct.accept(port));
// A bridge's MessageChannel, handed on by the service worker (background/channel-relay.ts, shared/channel-port.ts).
navigator.serviceWorker.onmessage = (event: MessageEvent) => {
  const got = handoffIn(event);
  if (got) direct.channel(got.handoff.nonce, got.port);
};

function connect(): void {
  const port = chrome.runtime.connect({ name: ENGINE_PORT });
  worker = port;
  // A new worker knows nothing of the direct work in flight: its watchdog needs to (shared/direct.ts).
  if (direct.serving) port.postMessage({ type: 'busy', busy: true } satisfies BusySignal);
  const emit = (m: HostMessage) => {
    try {
      post(port, m);
    } catch {
      /* the worker went away; it fails its requests itself */
    }
  };
  const timer = setInterval(() => {
    if (engine.busy || direct.serving) port.postMessage({ type: 'keepalive' });
  }, KEEPALIVE_MS);
  listen(port, REQUEST_BYTES_LIMIT, (raw) => {
    // The service worker's watchdog: an answer shows this document's thread is alive (offscreen-link.ts).
    if ((raw as { type?: unknown } | null)?.type === 'ping') {
      port.postMessage({ type: 'pong' });
      return;
    }
    if (isSignal<RevokeSignal>(raw, 'revoke')) {
      direct.revoke();
      return;
    }
    direct.receiveRouted(raw as EngineEnvelope, emit);
  });
  port.onDisconnect.addListener(() => {
    clearInterval(timer);
    if (worker === port) worker = null;
    direct.forgetRouted();
    setTimeout(connect, 100);
  });
}

connect();
