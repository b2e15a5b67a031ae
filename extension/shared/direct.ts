/**
 * Chrome's direct path: a page's requests skip the service worker once the router has let its origin through.
 *
 * Every request of a Chrome page used to cross four runtime-port hops (bridge → worker → offscreen document and
 * back), about 2 ms each here; a Silero frame (1–2 ms of inference) cost 9–11 ms through webq. The router still
 * decides who may use webq: the first request of a bridge goes through it (consent, the prompt, the limits). When it
 * passes a page's request on, it hands the engine host a grant for that origin with the request (`EngineEnvelope
 * .grant`) and tells the bridge `direct`; the bridge then opens a `DIRECT_PORT` to the offscreen document and sends
 * its requests there. The engine host checks each one as the router would (the sender from the browser, the message
 * validated, ids of its own, the same per-origin limits) and serves it if the origin holds a grant; if not, it
 * answers `reroute`, and the bridge sends that request through the router again.
 *
 * Grants end when consent changes (the worker sends `revoke`) and whenever the worker's port to the document is new
 * (a restarted worker knows of no grant). The worker's watchdog still covers direct work: the document reports
 * `busy` while it serves direct requests.
 */

import type { RequestMessage } from './protocol';

/** Router → bridge, on the page port: this origin's requests may go straight to the engine host. */
export interface DirectSignal {
  type: 'direct';
}

/** Engine host → bridge, on a direct port: no grant for this origin; send this request through the router. */
export interface RerouteSignal {
  type: 'reroute';
  id: string;
  /**
   * The request as it arrived, for the bridge to send on: on a MessageChannel the bridge moved its arrays away when
   * it sent them (shared/channel-port.ts), so its own copy is empty.
   */
  message?: RequestMessage;
}

/** Service worker → engine host: every grant ends (consent changed, or the worker is new). */
export interface RevokeSignal {
  type: 'revoke';
}

/** Engine host → service worker: it is serving direct requests (busy) or has stopped (idle). */
export interface BusySignal {
  type: 'busy';
  busy: boolean;
}

export const isSignal = <T extends { type: string }>(raw: unknown, type: T['type']): raw is T =>
  (raw as { type?: unknown } | null)?.type === type;
