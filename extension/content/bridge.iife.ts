/**
 * Isolated-world content script: relays between the page's `window.webq` (window.postMessage) and the
 * background (a runtime.Port). It validates every page message before forwarding — any page script can post
 * here directly — and fails the requests in flight if the background goes away, reconnecting on the next one.
 */
import browser from 'webextension-polyfill';
import { toWireError, WebqError } from '../shared/errors';
import { validateClientMessage, validateHostMessage, type HostMessage } from '../shared/protocol';
import { BRIDGE_TAG, PAGE_TAG, type WindowEnvelope } from '../shared/window-envelope';
import { PAGE_PORT } from '../shared/ports';
import { listen, post, RESULT_PIECES_LIMIT } from '../shared/pieces';

const targetOrigin = window.location.origin === 'null' ? '*' : window.location.origin;
const toPage = (envelope: WindowEnvelope) => window.postMessage(envelope, targetOrigin);
const inFlight = new Set<string>();
let port: browser.Runtime.Port | null = null;

function connect(): browser.Runtime.Port {
  const p = browser.runtime.connect({ name: PAGE_PORT });
  listen(p, RESULT_PIECES_LIMIT, (raw: unknown) => {
    const message = validateHostMessage(raw);
    if (!message) return;
    if (message.type !== 'progress') inFlight.delete(message.id);
    toPage({ tag: BRIDGE_TAG, message });
  });
  p.onDisconnect.addListener(() => {
    port = null;
    const error = toWireError(new WebqError('OperationError', 'the webq extension restarted while this request was running; call again'));
    for (const id of inFlight) toPage({ tag: BRIDGE_TAG, message: { type: 'error', id, error } });
    inFlight.clear();
  });
  return p;
}

/**
 * Firefox hands content scripts the page's objects through Xray wrappers, which hide some contents (a
 * BigInt64Array reads as undefined). A structured clone of the unwrapped value gives this script its own copy;
 * elsewhere the data is already ours and is used as it is.
 */
function ownCopy(value: unknown): unknown {
  const waived = (value as { wrappedJSObject?: unknown } | null)?.wrappedJSObject;
  if (waived === undefined) return value;
  try { return structuredClone(waived); } catch { return null; }
}

function reply(message: HostMessage): void {
  toPage({ tag: BRIDGE_TAG, message });
}

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window) return;
  const data = ownCopy(event.data) as Partial<WindowEnvelope> | null;
  if (!data || typeof data !== 'object' || data.tag !== PAGE_TAG) return;
  if ((data as { hello?: unknown }).hello === true) { toPage({ tag: BRIDGE_TAG, ready: true }); return; }
  const raw = (data as { message?: unknown }).message;
  let message;
  try {
    message = validateClientMessage(raw);
  } catch (err) {
    const id = typeof (raw as { id?: unknown })?.id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test((raw as { id: string }).id) ? (raw as { id: string }).id : null;
    if (id) reply({ type: 'error', id, error: toWireError(err) });
    return;
  }
  if (message.type === 'request') {
    if (inFlight.has(message.id)) { reply({ type: 'error', id: message.id, error: { name: 'DataError', message: `request id ${message.id} is already in flight` } }); return; }
    inFlight.add(message.id);
  } else {
    inFlight.delete(message.id);
  }
  try {
    port ??= connect();
    post(port, message);
  } catch (err) {
    inFlight.delete(message.id);
    reply({ type: 'error', id: message.id, error: toWireError(new WebqError('OperationError', `webq could not reach its background: ${(err as Error).message}`)) });
  }
});

toPage({ tag: BRIDGE_TAG, ready: true });
