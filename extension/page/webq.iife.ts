/**
 * MAIN-world content script: defines `window.webq` on every page. Built as a self-contained IIFE (no module
 * loader), so it works under strict page CSPs. It talks to the isolated bridge (content/bridge.iife.ts) with
 * window.postMessage; the bridge holds the extension APIs.
 */
import { createWebq, type Transport } from './client';
import { PAGE_TAG, BRIDGE_TAG, type WindowEnvelope } from '../shared/window-envelope';
import type { ClientMessage } from '../shared/protocol';

declare const __WEBQ_VERSION__: string;

function windowTransport(): Transport {
  let ready = false;
  const queue: ClientMessage[] = [];
  // The document's origin, not its URL's: a sandboxed document's is opaque, which only '*' matches.
  const post = (envelope: WindowEnvelope) => window.postMessage(envelope, self.origin === 'null' ? '*' : self.origin);
  return {
    send(message) {
      if (ready) post({ tag: PAGE_TAG, message });
      else queue.push(message);
    },
    listen(receive) {
      window.addEventListener('message', (event: MessageEvent) => {
        if (event.source !== window) return;
        const data = event.data as Partial<WindowEnvelope> | null;
        if (!data || data.tag !== BRIDGE_TAG) return;
        if (data.ready) {
          if (!ready) {
            ready = true;
            for (const m of queue.splice(0)) post({ tag: PAGE_TAG, message: m });
          }
          return;
        }
        if (data.message) receive(data.message as never);
      });
      // The bridge may have started before this listener existed: ask it to say it is ready.
      post({ tag: PAGE_TAG, hello: true });
    },
  };
}

if (!('webq' in window)) {
  Object.defineProperty(window, 'webq', {
    value: createWebq(windowTransport(), __WEBQ_VERSION__),
    enumerable: false,
    configurable: false,
    writable: false,
  });
}
