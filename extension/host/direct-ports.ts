/**
 * Chrome's engine host end of the direct path (shared/direct.ts): content-script bridges connect here once the
 * router has let their origin through, and their requests skip the service worker.
 *
 * Each one is checked as the router checks it, since a content script shares its process with the web page: the
 * caller comes from the browser's port sender (`callerOf`), the message is validated, ids are the host's own (a
 * page cannot reach another tab's request), and the router's per-origin limits hold, counting the origin's routed
 * requests here as well. Only consent is not asked: an origin without a grant gets `reroute`, and its bridge sends
 * that request through the router, which asks.
 */
import { callerOf } from '../shared/caller';
import { ChannelOffers } from '../shared/channel-offers';
import type { BusySignal, RerouteSignal } from '../shared/direct';
import { toWireError, WebqError } from '../shared/errors';
import { listen, post, REQUEST_BYTES_LIMIT } from '../shared/port-wire';
import { DIRECT_PORT } from '../shared/ports';
import { isFinal, validatedOrAnswered, type EngineEnvelope, type HostMessage } from '../shared/protocol';
import { REQUEST_LIMITS, requestBytes, RequestTable, type RequestLimits } from '../shared/request-table';
import type { Engine } from './engine';

/** How long the host stays reported busy after its last direct reply (one report per burst, not per request). */
const IDLE_AFTER_MS = 1000;

export class DirectPorts {
  /** Origins the router has let through since the last revoke. */
  private readonly grants = new Set<string>();
  private limits: RequestLimits = REQUEST_LIMITS;
  private readonly table = new RequestTable<chrome.runtime.Port>('d', () => this.limits);
  /** Routed page requests in flight (the router's id → release of their count). */
  private readonly routed = new Map<string, () => void>();
  /** Bridges' offered channels (shared/channel-port.ts). */
  private readonly offers = new ChannelOffers();
  private busy = false;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** `report` tells the service worker whether direct work is in flight (its watchdog covers it). */
  constructor(
    private readonly engine: Engine,
    private readonly extension: { id: string; origin: string },
    private readonly report: (signal: BusySignal) => void,
  ) {}

  /** Whether direct requests are being served (the host keeps the worker awake meanwhile). */
  get serving(): boolean {
    return this.busy;
  }

  /** Every grant ends (consent changed, or the worker is new). */
  revoke(): void {
    this.grants.clear();
  }

  /** The service worker's port closed: what it routed is no longer its to count. */
  forgetRouted(): void {
    for (const release of this.routed.values()) release();
    this.routed.clear();
  }

  /**
   * A message the router passed on, handed to the engine: its grant is taken, and a page's request counts against
   * its origin here until its final reply (or abort), refused over the limits as a direct one would be — the
   * origin's requests on both paths meet only here.
   */
  receiveRouted(envelope: EngineEnvelope, emit: (m: HostMessage) => void): void {
    const { message, caller } = envelope;
    if (envelope.grant) {
      this.grants.add(caller.origin);
      this.limits = envelope.grant;
    }
    if (message.type === 'abort') {
      this.releaseRouted(message.id);
      return this.engine.receive(message, caller, emit);
    }
    if (caller.origin === this.extension.origin) return this.engine.receive(message, caller, emit);
    const held = this.table.hold(caller.origin, requestBytes(message));
    if (held instanceof WebqError) return emit({ type: 'error', id: message.id, error: toWireError(held) });
    this.routed.set(message.id, held);
    this.engine.receive(message, caller, (m) => {
      if (isFinal(m)) this.releaseRouted(m.id);
      emit(m);
    });
  }

  private releaseRouted(id: string): void {
    this.routed.get(id)?.();
    this.routed.delete(id);
  }

  /**
   * A MessageChannel the service worker handed on (background/channel-relay.ts): the direct port that offered its
   * nonce moves onto it. A nonce no port offered, or one already used, matches nothing and the channel is closed.
   */
  channel(nonce: string, channel: MessagePort): void {
    this.offers.channel(nonce, channel);
  }

  /** Serves a bridge's direct port; any other port is left alone. */
  accept(runtime: chrome.runtime.Port): void {
    if (runtime.name !== DIRECT_PORT) return;
    const caller = callerOf(runtime.name, runtime.sender, this.extension);
    if (!caller) {
      runtime.disconnect();
      return;
    }
    const port = this.offers.wrap(runtime);
    const requests = this.table.port(runtime, caller.origin);
    const send = (m: HostMessage | RerouteSignal) => {
      try {
        post(port, m);
      } catch {
        /* the tab went away */
      }
    };
    const emit = (m: HostMessage) => {
      if (isFinal(m)) this.idleSoon(); // also for an aborted request, whose reply nobody waits for
      const reply = this.table.reply(m);
      if (reply) send(reply.message);
    };
    listen(port, REQUEST_BYTES_LIMIT, (raw) => {
      const message = validatedOrAnswered(raw, send);
      if (!message) return;
      if (message.type === 'abort') {
        const id = requests.abort(message.id);
        if (id) this.engine.receive({ type: 'abort', id }, caller, emit);
        return;
      }
      if (!this.grants.has(caller.origin)) {
        send({ type: 'reroute', id: message.id, message });
        return;
      }
      const id = requests.accept(message);
      if (id instanceof WebqError) {
        send({ type: 'error', id: message.id, error: toWireError(id) });
        return;
      }
      requests.route(id);
      this.markBusy();
      this.engine.receive({ ...message, id }, caller, emit);
    });
    // A closed tab releases its work.
    port.onDisconnect.addListener(() => {
      for (const id of requests.close()) this.engine.receive({ type: 'abort', id }, caller, emit);
    });
  }

  private markBusy(): void {
    clearTimeout(this.idleTimer);
    if (this.busy) return;
    this.busy = true;
    this.report({ type: 'busy', busy: true });
  }

  private idleSoon(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.engine.busy) return this.idleSoon();
      this.busy = false;
      this.report({ type: 'busy', busy: false });
    }, IDLE_AFTER_MS);
  }
}
