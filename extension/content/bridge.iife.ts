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
import { isFinal, validateClientMessage, validateHostMessage, type HostMessage } from '../shared/protocol';
import { BRIDGE_TAG, PAGE_TAG, type WindowEnvelope } from '../shared/window-envelope';
import { PAGE_PORT } from '../shared/ports';
import { listen, post, RESULT_PIECES_LIMIT } from '../shared/pieces';

/**
 * The document's origin, not its URL's: a sandboxed document at an http URL has an opaque origin, which no
 * targetOrigin but '*' matches (the message never leaves this window either way).
 */
const targetOrigin = self.origin === 'null' ? '*' : self.origin;
const toPage = (envelope: WindowEnvelope) => window.postMessage(envelope, targetOrigin);
const inFlight = new Set<string>();
let port: browser.Runtime.Port | null = null;

function connect(): browser.Runtime.Port {
  const p = browser.runtime.connect({ name: PAGE_PORT });
  listen(p, RESULT_PIECES_LIMIT, (raw: unknown) => {
    const message = validateHostMessage(raw);
    if (!message) return;
    if (isFinal(message)) inFlight.delete(message.id);
    toPage({ tag: BRIDGE_TAG, message });
  });
  p.onDisconnect.addListener(() => {
    port = null;
    const error = toWireError(
      new WebqError('OperationError', 'the webq extension restarted while this request was running; call again'),
    );
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
  try {
    return structuredClone(waived);
  } catch {
    return null;
  }
}

function reply(message: HostMessage): void {
  toPage({ tag: BRIDGE_TAG, message });
}

/** The id of a page message, if it is a well-formed one (so an answer can name it). */
function idOf(raw: unknown): string | null {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
}

/** A sandboxed or data: document has no origin to ask consent for, or to partition its models by. */
const opaque = targetOrigin === '*';

function refuseOpaque(raw: unknown): void {
  const id = idOf(raw);
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
  const data = ownCopy(event.data) as Partial<WindowEnvelope> | null;
  if (!data || typeof data !== 'object' || data.tag !== PAGE_TAG) return;
  if ((data as { hello?: unknown }).hello === true) {
    toPage({ tag: BRIDGE_TAG, ready: true });
    return;
  }
  const raw = (data as { message?: unknown }).message;
  if (opaque) {
    refuseOpaque(raw);
    return;
  }
  let message;
  try {
    message = validateClientMessage(raw);
  } catch (err) {
    const id = idOf(raw);
    if (id) reply({ type: 'error', id, error: toWireError(err) });
    return;
  }
  if (message.type === 'request') {
    delete message.gesture;
    if (gesture()) message.gesture = true;
    if (inFlight.has(message.id)) {
      reply({
        type: 'error',
        id: message.id,
        error: { name: 'DataError', message: `request id ${message.id} is already in flight` },
      });
      return;
    }
    inFlight.add(message.id);
  } else {
    inFlight.delete(message.id);
  }
  try {
    port ??= connect();
    post(port, message);
  } catch (err) {
    inFlight.delete(message.id);
    reply({
      type: 'error',
      id: message.id,
      error: toWireError(
        new WebqError('OperationError', `webq could not reach its background: ${(err as Error).message}`),
      ),
    });
  }
});

toPage({ tag: BRIDGE_TAG, ready: true });
