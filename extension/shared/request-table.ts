/**
 * The requests a hop has accepted from client ports and passed on under ids of its own, so ids from different tabs
 * can never collide or be forged into another tab's reply: the router's (service worker / Firefox background page)
 * and, in Chrome, the engine host's for the bridges' direct ports. It also holds the per-origin rate limits (issue
 * 8): requests in flight (from acceptance to the reply, an abort or the port closing) and the bytes they carry.
 */
import { WebqError } from './errors';
import { isFinal, type ClientMessage, type HostMessage, type RequestMessage } from './protocol';

export interface RequestLimits {
  requestsInFlightPerOrigin: number;
  bytesInFlightPerOrigin: number;
}

/** At most this much in flight per origin, over all its tabs. */
export const REQUEST_LIMITS: Readonly<RequestLimits> = Object.freeze({
  requestsInFlightPerOrigin: 64,
  bytesInFlightPerOrigin: 256 * 1024 * 1024,
});

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

interface Accepted<P> {
  port: P;
  clientId: string;
  /** The port's own table (client id → hop id), for aborts and duplicate ids. */
  ids: Map<string, string>;
  origin: string;
  bytes: number;
  /** Passed on: its replies go back to the port. */
  routed: boolean;
}

/** One client port's view of the table. */
export interface PortRequests {
  /** Takes a slot for a request under a new hop id, or says why not (DataError, QuotaExceededError). */
  accept(message: RequestMessage): string | WebqError;
  /** Marks a request passed on; false when it was aborted (or its port closed) meanwhile. */
  route(id: string): boolean;
  /** Forgets a request given up on before it was passed on. */
  drop(id: string): void;
  /** The hop id of an aborted client request, forgotten here: pass the abort on under it. */
  abort(clientId: string): string | undefined;
  /** The port closed: forgets its requests and returns the hop ids of those passed on (to abort). */
  close(): string[];
}

export class RequestTable<P> {
  private readonly requests = new Map<string, Accepted<P>>(); // hop id → the request
  private readonly usage = new Map<string, { requests: number; bytes: number }>(); // origin → what it has in flight
  private next = 0;

  /** `prefix` starts every hop id; `limits` is read at each acceptance (a test may lower it). */
  constructor(
    private readonly prefix: string,
    private readonly limits: () => RequestLimits,
  ) {}

  /** A port's requests, all from `origin`. */
  port(port: P, origin: string): PortRequests {
    const ids = new Map<string, string>();
    return {
      accept: (message) => {
        if (ids.has(message.id)) return new WebqError('DataError', `request id ${message.id} is already in flight`);
        const bytes = requestBytes(message);
        const refused = this.reserve(origin, bytes);
        if (refused) return refused;
        const id = `${this.prefix}${++this.next}`;
        ids.set(message.id, id);
        this.requests.set(id, { port, clientId: message.id, ids, origin, bytes, routed: false });
        return id;
      },
      route: (id) => {
        const r = this.requests.get(id);
        if (r) r.routed = true;
        return r !== undefined;
      },
      drop: (id) => void this.forget(id),
      abort: (clientId) => {
        const id = ids.get(clientId);
        return id && this.forget(id) ? id : undefined;
      },
      close: () => [...ids.values()].filter((id) => this.forget(id)?.routed),
    };
  }

  /** Where a reply goes, under the client's id; the request is forgotten after its final message. */
  reply(message: HostMessage): { port: P; message: HostMessage } | null {
    const r = this.requests.get(message.id);
    if (!r?.routed) return null;
    if (isFinal(message)) this.forget(message.id);
    return { port: r.port, message: { ...message, id: r.clientId } };
  }

  /**
   * Takes a slot for a request this hop does not rename (one another hop let through), until the returned release
   * is called; or says why not (QuotaExceededError).
   */
  hold(origin: string, bytes: number): (() => void) | WebqError {
    const refused = this.reserve(origin, bytes);
    if (refused) return refused;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(origin, bytes);
    };
  }

  private reserve(origin: string, bytes: number): WebqError | null {
    const limits = this.limits();
    const u = this.usage.get(origin) ?? { requests: 0, bytes: 0 };
    if (u.requests + 1 > limits.requestsInFlightPerOrigin) {
      return new WebqError(
        'QuotaExceededError',
        `${origin} already has ${u.requests} webq requests in flight; at most ${limits.requestsInFlightPerOrigin} per site`,
      );
    }
    if (u.bytes + bytes > limits.bytesInFlightPerOrigin) {
      return new WebqError(
        'QuotaExceededError',
        `${origin} already has ${u.bytes} bytes of webq requests in flight; this one adds ${bytes}, at most ${limits.bytesInFlightPerOrigin} per site`,
      );
    }
    this.usage.set(origin, { requests: u.requests + 1, bytes: u.bytes + bytes });
    return null;
  }

  /** Forgets a request and gives its slot back; safe to call more than once. */
  private forget(id: string): Accepted<P> | undefined {
    const r = this.requests.get(id);
    if (!r) return undefined;
    this.requests.delete(id);
    if (r.ids.get(r.clientId) === id) r.ids.delete(r.clientId);
    this.release(r.origin, r.bytes);
    return r;
  }

  private release(origin: string, bytes: number): void {
    const u = this.usage.get(origin);
    if (u && u.requests <= 1) this.usage.delete(origin);
    else if (u) this.usage.set(origin, { requests: u.requests - 1, bytes: u.bytes - bytes });
  }
}
