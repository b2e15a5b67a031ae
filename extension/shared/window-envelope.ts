/**
 * The hop between the page's MAIN-world script (`window.webq`) and the isolated bridge: window.postMessage with a
 * tagged envelope, posted only to this document's own origin. Both ends use this module, so the tags, the envelope
 * and the target-origin rule are written once.
 */
import type { Link } from './link';
import { postMoving, withOwnArrays } from './port-wire';
import type { ClientMessage, HostMessage } from './protocol';

export const PAGE_TAG = 'webq:page';
export const BRIDGE_TAG = 'webq:bridge';

export type WindowEnvelope =
  | { tag: typeof PAGE_TAG; message?: ClientMessage; hello?: true }
  | { tag: typeof BRIDGE_TAG; message?: HostMessage; ready?: true };

/**
 * The document's origin, not its URL's: a sandboxed or data: document has an opaque origin ('null'), which no
 * targetOrigin but '*' matches (the message never leaves this window either way).
 */
export function targetOrigin(): string {
  return self.origin === 'null' ? '*' : self.origin;
}

export function postEnvelope(envelope: WindowEnvelope): void {
  window.postMessage(envelope, targetOrigin());
}

/**
 * Posts an envelope moving its message's array buffers (port-wire.ts `postMoving`): for a sender that is done with
 * them, the bridge handing on a reply it received.
 */
export function postEnvelopeMoving(envelope: WindowEnvelope): void {
  postMoving((m, transfer) => window.postMessage(m, targetOrigin(), transfer), envelope);
}

/** The page's send: its own copy of the caller's arrays, moved, so the caller's arrays stay as they were. */
const postFromPage = (message: ClientMessage) => postEnvelopeMoving({ tag: PAGE_TAG, message: withOwnArrays(message) });

/**
 * The page's Link to the bridge. Messages sent before the bridge says it is ready wait in a queue; the bridge may
 * have started before this listener, so the page asks (`hello`) and the bridge answers `ready` again.
 */
export function windowLink(): Link {
  let ready = false;
  const queue: ClientMessage[] = [];
  return {
    send(message) {
      if (ready) postFromPage(message);
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
            for (const m of queue.splice(0)) postFromPage(m);
          }
          return;
        }
        // Unchecked here: the client validates every host message it gets (client.ts).
        if (data.message) receive(data.message as HostMessage);
      });
      postEnvelope({ tag: PAGE_TAG, hello: true });
    },
  };
}
