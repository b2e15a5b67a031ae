/**
 * Isolated-world content script: relays between the page's `window.webq` (window.postMessage) and the
 * background (a runtime.Port). It validates every page message before forwarding — any page script can post
 * here directly — and fails the requests in flight if the background goes away, reconnecting on the next one.
 * It is also where consent's facts about the page are taken, because the page cannot forge them here (SPEC §3):
 * each request is stamped with whether the page has transient user activation now (overwriting anything the page
 * sent), and an opaque-origin document (sandboxed, data:) is refused outright, nothing forwarded.
 */
import browser from 'webextension-polyfill';
import { toWireError, WebqError } from '../shared/errors';
import { BridgeLink } from './bridge-link';
import { channelled } from './channel';
import { ownCopy } from './own-copy';
import { DIRECT_PORT, PAGE_PORT } from '../shared/ports';
import { replyIdOf, validatedOrAnswered, type HostMessage } from '../shared/protocol';
import {
  BRIDGE_TAG,
  PAGE_TAG,
  postEnvelope,
  postEnvelopeMoving,
  targetOrigin,
  type WindowEnvelope,
} from '../shared/window-envelope';

declare const __WEBQ_BROWSER__: 'chrome' | 'firefox';

/**
 * The port that ends in the engine host's own page, and so moves onto a MessageChannel once one is in place
 * (shared/channel-port.ts): Chrome's direct port to the offscreen document; in Firefox the page port, since the
 * background page is router and engine host in one.
 */
const CHANNELLED = __WEBQ_BROWSER__ === 'firefox' ? PAGE_PORT : DIRECT_PORT;

/** The ports to the engine: opened on the first request, their in-flight requests failed if they close. */
const link = new BridgeLink((name) => {
  const port = browser.runtime.connect({ name });
  return name === CHANNELLED ? channelled(port) : port;
});
link.listen(reply);

/** A reply is the bridge's own (it came off a port), so its arrays move to the page rather than being copied. */
function reply(message: HostMessage): void {
  postEnvelopeMoving({ tag: BRIDGE_TAG, message });
}

/** A sandboxed or data: document has no origin to ask consent for, or to partition its models by. */
const opaque = targetOrigin() === '*';

function refuseOpaque(raw: unknown): void {
  const id = replyIdOf(raw);
  if (!id || (raw as { type?: unknown }).type !== 'request') return;
  const error = new WebqError(
    'NotAllowedError',
    'webq is not available to documents with an opaque origin (sandboxed or data: documents)',
  );
  reply({ type: 'error', id, error: toWireError(error) });
}

/** Whether the page has transient user activation (a click or key press within the last few seconds). */
const gesture = (): boolean => navigator.userActivation?.isActive === true;

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window) return;
  // Only webq's own envelope is read (in Firefox, copied out of the page's objects); the page's other messages are
  // left as they are.
  if ((event.data as { tag?: unknown } | null)?.tag !== PAGE_TAG) return;
  const data = ownCopy(event.data) as Partial<WindowEnvelope> | null;
  if (!data || typeof data !== 'object' || data.tag !== PAGE_TAG) return;
  if ((data as { hello?: unknown }).hello === true) {
    postEnvelope({ tag: BRIDGE_TAG, ready: true });
    return;
  }
  const raw = (data as { message?: unknown }).message;
  if (opaque) {
    refuseOpaque(raw);
    return;
  }
  const message = validatedOrAnswered(raw, reply);
  if (!message) return;
  if (message.type === 'request') {
    delete message.gesture;
    if (gesture()) message.gesture = true;
  }
  link.send(message);
});

postEnvelope({ tag: BRIDGE_TAG, ready: true });
