/**
 * The background's router: accepts ports from the extension's own content scripts (pages, consent applies) and
 * from its own UI pages, validates every message, asks for consent, and forwards requests to the engine host
 * under ids of its own, so ids from different tabs can never collide or be forged into another tab's reply.
 */
import browser from 'webextension-polyfill';
import { toWireError, WebqError } from '../shared/errors';
import type { Link } from '../shared/link';
import {
  isFinal,
  replyIdOf,
  validateClientMessage,
  type Caller,
  type ClientMessage,
  type EngineEnvelope,
  type HostMessage,
} from '../shared/protocol';
import { PAGE_PORT, UI_PORT } from '../shared/ports';
import { requireConsent } from './consent';
import { listen, post, REQUEST_PIECES_LIMIT } from '../shared/pieces';

/** The way to the engine host: an offscreen document (Chrome) or the engine in this same page (Firefox). */
export type EngineLink = Link<EngineEnvelope, HostMessage>;

/** A request the router has accepted, under its engine id: where the reply goes and what it counts against. */
interface Accepted {
  port: browser.Runtime.Port;
  clientId: string;
  /** The port's own table (client id → engine id), for aborts and duplicate ids. */
  ids: Map<string, string>;
  origin: string;
  bytes: number;
  /** Consent given and sent to the engine: its replies go back to the port. */
  routed: boolean;
}

/**
 * Rate limits per origin (issue 8), counted here because the router is the only hop that sees every tab of an
 * origin: requests in flight (from acceptance, consent wait included, to the reply, an abort or the tab's port
 * closing) and the bytes those requests carry. Over either, a request is refused at once with QuotaExceededError;
 * other origins are not affected. One request's own bytes are bounded by `validateClientMessage` (64 MiB).
 * Mutable so tests can lower them from the background's own context (`globalThis.webqRouterLimits`, reachable
 * only by code running in the service worker / background page, never by pages: see docs/security.md).
 */
export const ROUTER_LIMITS = { requestsInFlightPerOrigin: 64, bytesInFlightPerOrigin: 256 * 1024 * 1024 };
(globalThis as { webqRouterLimits?: typeof ROUTER_LIMITS }).webqRouterLimits = ROUTER_LIMITS;

/** The binary and text a request carries (what it makes the hops hold while it is in flight). */
export function requestBytes(message: ClientMessage): number {
  if (message.type !== 'request' || message.method !== 'run') return 0;
  const input = message.params.input;
  switch (input.kind) {
    case 'tensors':
      return Object.values(input.tensors).reduce((n, t) => n + t.data.byteLength, 0);
    case 'audio':
      return input.audio.byteLength;
    case 'image':
      return input.images.reduce((n, im) => n + im.data.byteLength, 0);
    case 'text':
      return input.text.reduce((n, s) => n + 2 * s.length, 0);
    case 'messages':
      return input.messages.reduce((n, m) => n + 2 * m.content.length, 0);
  }
}

function callerOf(port: browser.Runtime.Port): Caller | null {
  const sender = port.sender;
  if (!sender || sender.id !== browser.runtime.id) return null;
  const extensionOrigin = new URL(browser.runtime.getURL('')).origin;
  if (port.name === UI_PORT) {
    return sender.url && new URL(sender.url).origin === extensionOrigin ? { origin: extensionOrigin } : null;
  }
  if (port.name !== PAGE_PORT || !sender.tab || !sender.url) return null;
  const origin = (sender as { origin?: string }).origin ?? new URL(sender.url).origin;
  if (origin === 'null' || origin === extensionOrigin) return null;
  // The tab's top-level origin partitions the models this caller names (SPEC §3); a frame without one is its own top.
  let topOrigin = origin;
  try {
    if (sender.tab.url) topOrigin = new URL(sender.tab.url).origin;
  } catch {
    /* keep the caller's own */
  }
  return { origin, tabId: sender.tab.id, topOrigin: topOrigin === 'null' ? origin : topOrigin };
}

export function startRouter(engine: EngineLink): void {
  const requests = new Map<string, Accepted>(); // engine id → the request
  const usage = new Map<string, { requests: number; bytes: number }>(); // origin → what it has in flight
  let next = 0;

  /** Takes a slot for a request, or says why not (QuotaExceededError). */
  const reserve = (origin: string, bytes: number): WebqError | null => {
    const u = usage.get(origin) ?? { requests: 0, bytes: 0 };
    if (u.requests + 1 > ROUTER_LIMITS.requestsInFlightPerOrigin) {
      return new WebqError(
        'QuotaExceededError',
        `${origin} already has ${u.requests} webq requests in flight; at most ${ROUTER_LIMITS.requestsInFlightPerOrigin} per site`,
      );
    }
    if (u.bytes + bytes > ROUTER_LIMITS.bytesInFlightPerOrigin) {
      return new WebqError(
        'QuotaExceededError',
        `${origin} already has ${u.bytes} bytes of webq requests in flight; this one adds ${bytes}, at most ${ROUTER_LIMITS.bytesInFlightPerOrigin} per site`,
      );
    }
    usage.set(origin, { requests: u.requests + 1, bytes: u.bytes + bytes });
    return null;
  };
  /** Forgets a request and gives its slot back; safe to call more than once. */
  const forget = (engineId: string): Accepted | undefined => {
    const r = requests.get(engineId);
    if (!r) return undefined;
    requests.delete(engineId);
    if (r.ids.get(r.clientId) === engineId) r.ids.delete(r.clientId);
    const u = usage.get(r.origin);
    if (u && u.requests <= 1) usage.delete(r.origin);
    else if (u) usage.set(r.origin, { requests: u.requests - 1, bytes: u.bytes - r.bytes });
    return r;
  };

  engine.listen((message) => {
    const r = requests.get(message.id);
    if (!r?.routed) return;
    if (isFinal(message)) forget(message.id);
    try {
      post(r.port, { ...message, id: r.clientId });
    } catch {
      /* the tab went away */
    }
  });

  browser.runtime.onConnect.addListener((port) => {
    if (port.name !== PAGE_PORT && port.name !== UI_PORT) return;
    const caller = callerOf(port);
    if (!caller) {
      port.disconnect();
      return;
    }
    const ids = new Map<string, string>();
    const fail = (clientId: string, err: unknown) => {
      try {
        port.postMessage({ type: 'error', id: clientId, error: toWireError(err) } satisfies HostMessage);
      } catch {
        /* gone */
      }
    };
    const toEngine = (message: ClientMessage) => engine.send({ message, caller });

    listen(port, REQUEST_PIECES_LIMIT, async (raw: unknown) => {
      let message: ClientMessage;
      try {
        message = validateClientMessage(raw);
      } catch (err) {
        const id = replyIdOf(raw);
        if (id) fail(id, err);
        return;
      }
      if (message.type === 'abort') {
        const engineId = ids.get(message.id);
        // Sent even while consent is pending: the engine ignores an id it never saw.
        if (engineId && forget(engineId)) toEngine({ type: 'abort', id: engineId });
        return;
      }
      if (ids.has(message.id)) {
        fail(message.id, new WebqError('DataError', `request id ${message.id} is already in flight`));
        return;
      }
      const engineId = `r${++next}`;
      const bytes = requestBytes(message);
      const refused = reserve(caller.origin, bytes);
      if (refused) {
        fail(message.id, refused);
        return;
      }
      ids.set(message.id, engineId);
      requests.set(engineId, { port, clientId: message.id, ids, origin: caller.origin, bytes, routed: false });
      try {
        // The bridge stamped `gesture`; the tab is the port's own (SPEC §3: who may open a prompt).
        if (port.name === PAGE_PORT) {
          await requireConsent(caller.origin, { gesture: message.gesture === true, tabId: caller.tabId });
        }
      } catch (err) {
        forget(engineId);
        fail(message.id, err);
        return;
      }
      const r = requests.get(engineId);
      if (!r) return; // aborted, or the tab closed, while the prompt was open
      r.routed = true;
      toEngine({ ...message, id: engineId });
    });

    // A closed tab releases its work: abort what it still has in flight.
    port.onDisconnect.addListener(() => {
      for (const engineId of [...ids.values()]) {
        const r = forget(engineId);
        if (r?.routed) toEngine({ type: 'abort', id: engineId });
      }
    });
  });
}
