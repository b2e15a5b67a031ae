/**
 * The background's router: accepts ports from the extension's own content scripts (pages, consent applies) and
 * from its own UI pages, validates every message, asks for consent, and forwards requests to the engine host
 * under ids of its own, so ids from different tabs can never collide or be forged into another tab's reply.
 */
import browser from 'webextension-polyfill';
import { toWireError, WebqError } from '../shared/errors';
import type { Link } from '../shared/link';
import { validatedOrAnswered, type EngineEnvelope, type HostMessage } from '../shared/protocol';
import { PAGE_PORT, UI_PORT } from '../shared/ports';
import { callerOf } from '../shared/caller';
import type { DirectSignal } from '../shared/direct';
import { REQUEST_LIMITS, RequestTable, type RequestLimits } from '../shared/request-table';
import { onConsentChange, requireConsent } from './consent';
import { listen, post, REQUEST_BYTES_LIMIT } from '../shared/port-wire';
import { isKeepAwake, type PortLike } from '../shared/link';
import type { ChannelOffers } from '../shared/channel-offers';

/** The way to the engine host: an offscreen document (Chrome) or the engine in this same page (Firefox). */
export type EngineLink = Link<EngineEnvelope, HostMessage>;

/**
 * The per-origin limits (issue 8), counted here because the router is the only hop that sees every request before
 * consent. Over either, a request is refused at once with QuotaExceededError; other origins are not affected. One
 * request's own bytes are bounded by `validateClientMessage` (64 MiB). Tests lower them from the background's own
 * context (`globalThis.webqRouterLimits`, reachable only by code running in the service worker / background page,
 * never by pages: see docs/security.md); Chrome's direct path gets them with each grant.
 */
export const ROUTER_LIMITS: RequestLimits = { ...REQUEST_LIMITS };
(globalThis as { webqRouterLimits?: RequestLimits }).webqRouterLimits = ROUTER_LIMITS;

export interface RouterOptions {
  /**
   * Chrome: pages' bridges may send straight to the engine host once a request of theirs passed (shared/direct.ts).
   * `revoke` ends every grant (consent changed).
   */
  direct?: { revoke(): void };
  /**
   * Firefox: pages' ports move onto a MessageChannel once their bridge's channel arrives (shared/channel-port.ts;
   * the engine is in this same page, so the page port is the one that reaches it).
   */
  channels?: ChannelOffers;
}

export function startRouter(engine: EngineLink, options: RouterOptions = {}): void {
  const table = new RequestTable<PortLike>('r', () => ROUTER_LIMITS);
  const { direct, channels } = options;
  if (direct) {
    onConsentChange(() => direct.revoke());
    // With webqRouterLimits: a test that lowers the limits ends the grants, so direct requests get the new ones.
    (globalThis as { webqRevokeGrants?: () => void }).webqRevokeGrants = () => direct.revoke();
  }
  /** `globalThis.webqDirectPath = false` (then webqRevokeGrants()) routes every request: the bench's baseline. */
  const directPathOn = () => (globalThis as { webqDirectPath?: boolean }).webqDirectPath !== false;

  engine.listen((message) => {
    const reply = table.reply(message);
    if (!reply) return;
    try {
      post(reply.port, reply.message);
    } catch {
      /* the tab went away */
    }
  });

  browser.runtime.onConnect.addListener((runtime) => {
    if (runtime.name !== PAGE_PORT && runtime.name !== UI_PORT) return;
    const caller = callerOf(runtime.name, runtime.sender, {
      id: browser.runtime.id,
      origin: new URL(browser.runtime.getURL('')).origin,
    });
    if (!caller) {
      runtime.disconnect();
      return;
    }
    const page = runtime.name === PAGE_PORT;
    const port: PortLike = page && channels ? channels.wrap(runtime) : runtime;
    const requests = table.port(port, caller.origin);
    const answer = (m: HostMessage) => {
      try {
        port.postMessage(m);
      } catch {
        /* gone */
      }
    };
    const fail = (clientId: string, err: unknown) => answer({ type: 'error', id: clientId, error: toWireError(err) });

    listen(port, REQUEST_BYTES_LIMIT, async (raw: unknown) => {
      if (isKeepAwake(raw)) return; // it has done its work by arriving (shared/link.ts)
      const message = validatedOrAnswered(raw, answer);
      if (!message) return;
      if (message.type === 'abort') {
        // Sent even while consent is pending: the engine ignores an id it never saw.
        const id = requests.abort(message.id);
        if (id) engine.send({ message: { type: 'abort', id }, caller });
        return;
      }
      const id = requests.accept(message);
      if (id instanceof WebqError) {
        fail(message.id, id);
        return;
      }
      try {
        // The bridge stamped `gesture`; the tab is the port's own (SPEC §3: who may open a prompt).
        if (page) await requireConsent(caller.origin, { gesture: message.gesture === true, tabId: caller.tabId });
      } catch (err) {
        requests.drop(id);
        fail(message.id, err);
        return;
      }
      if (!requests.route(id)) return; // aborted, or the tab closed, while the prompt was open
      const grant = page && direct && directPathOn() ? { ...ROUTER_LIMITS } : undefined;
      engine.send({ message: { ...message, id }, caller, ...(grant && { grant }) });
      // Every time: a bridge that was sent back here (`reroute`) goes direct again after this.
      if (grant) port.postMessage({ type: 'direct' } satisfies DirectSignal);
    });

    // A closed tab releases its work: abort what it still has in flight.
    port.onDisconnect.addListener(() => {
      for (const id of requests.close()) engine.send({ message: { type: 'abort', id }, caller });
    });
  });
}
