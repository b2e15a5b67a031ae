/**
 * The extension pages' way to the engine: a runtime.Port named UI_PORT to the background router, which accepts it
 * from the extension's own pages without a consent prompt. `createExtensionWebq` (the client web pages get, plus
 * calibration) runs on top of it, so the popup exercises exactly the validation, progress and abort paths a page does.
 *
 * Chrome's service worker may be stopped and restarted; its port then disconnects. Requests in flight are failed
 * with an OperationError (they would otherwise wait forever) and the next request opens a new port.
 */
import browser from 'webextension-polyfill';
import { createExtensionWebq, type ExtensionWebq, type Transport } from '../page/client';
import { toWireError, WebqError } from '../shared/errors';
import { listen, post, RESULT_PIECES_LIMIT } from '../shared/pieces';
import { UI_PORT } from '../shared/ports';
import { isFinal, validateHostMessage, type HostMessage } from '../shared/protocol';

declare const __WEBQ_VERSION__: string;

export function uiTransport(): Transport {
  let port: browser.Runtime.Port | null = null;
  let receive: (message: HostMessage) => void = () => {};
  const inFlight = new Set<string>();

  const connect = (): browser.Runtime.Port => {
    const p = browser.runtime.connect({ name: UI_PORT });
    listen(p, RESULT_PIECES_LIMIT, (raw) => {
      const message = validateHostMessage(raw);
      if (!message) return;
      if (isFinal(message)) inFlight.delete(message.id);
      receive(message);
    });
    p.onDisconnect.addListener(() => {
      if (port === p) port = null;
      const error = toWireError(
        new WebqError('OperationError', 'the webq background restarted while this request was running; try again'),
      );
      for (const id of [...inFlight]) receive({ type: 'error', id, error });
      inFlight.clear();
    });
    return p;
  };

  return {
    send(message) {
      port ??= connect();
      if (message.type === 'request') inFlight.add(message.id);
      else inFlight.delete(message.id); // an abort: the client has already rejected the call
      post(port, message);
    },
    listen(r) {
      receive = r;
    },
  };
}

/** `window.webq` for extension pages. */
export function uiWebq(): ExtensionWebq {
  return createExtensionWebq(uiTransport(), __WEBQ_VERSION__);
}
