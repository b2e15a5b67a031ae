/**
 * One way of talking to the engine, whatever carries it. A `Link` sends client messages one way and hands host
 * messages back; the page client (client.ts) runs over any Link, the router talks to the engine host over one, so
 * each hop is written once and the transport underneath is swapped (the idea of web-llm's PortAdapter).
 *
 * `PortLink` is the one Link over a runtime.Port, used by the content-script bridge, the popup/options transport and
 * the service worker's offscreen link. It opens its port on the first send (and again after the port closed), keeps
 * the one in-flight table of its hop (request ids sent and not yet answered), fails every request in flight when
 * the port closes (the other end forgot them: a restarted worker, a closed document), and sends and receives
 * messages with large arrays as Blobs (port-wire.ts). It does not validate what arrives: the page client does that
 * once, at the end.
 */
import { toWireError, WebqError, type WireError } from './errors';
import { listen, post } from './port-wire';
import type { ClientMessage, HostMessage } from './protocol';

export interface Link<Out = ClientMessage, In = HostMessage> {
  send(message: Out): void;
  /** Registers the one receiver of what comes back. */
  listen(receive: (message: In) => void): void;
}

/** The part of a runtime.Port (chrome.* or browser.*) a PortLink uses. */
export interface PortLike {
  postMessage(message: unknown): void;
  onMessage: { addListener(listener: (message: unknown) => void): void };
  onDisconnect: { addListener(listener: () => void): void };
  disconnect(): void;
}

export interface PortLinkOptions<Out> {
  /** Opens the port (runtime.connect), or waits for one to arrive; a throw or rejection fails what was waiting. */
  connect(): PortLike | Promise<PortLike>;
  /** What one message arriving may hold in arrays (port-wire.ts). */
  receiveLimit: number;
  /** The OperationError message of requests in flight when the port closes. */
  lost: string;
  /** The OperationError message prefix when the port cannot be opened or posted to. */
  unreachable: string;
  /** The client message inside what is sent (the offscreen link wraps it with its caller); default: itself. */
  messageOf?(message: Out): ClientMessage;
  /** Sees each message that arrives first; returns true for the link's own control traffic (not delivered). */
  control?(message: unknown): boolean;
  /** Told when the port closes (after its requests in flight were failed). */
  closed?(): void;
  /** While requests are in flight, posts KEEP_AWAKE every this many ms (see there). */
  keepAwakeMs?: number;
}

/**
 * What a client's link posts on its runtime port while requests are in flight, for the far end to ignore. Firefox
 * unloads its background page (an event page) after 30 s without an extension event, even in the middle of a request,
 * and a message arriving on a runtime port is such an event; work in the page itself, or messages on a
 * MessageChannel, are not. So a long request (a large model quantized, a long generation) would lose its engine host.
 */
export const KEEP_AWAKE = { type: 'webq-keep-awake' } as const;

/** How often: under a third of Firefox's 30 s idle limit. */
export const KEEP_AWAKE_MS = 5000;

export const isKeepAwake = (m: unknown): boolean => (m as { type?: unknown } | null)?.type === KEEP_AWAKE.type;

const isFinalRaw = (m: unknown): m is { id: string } => {
  const o = m as { type?: unknown; id?: unknown } | null;
  return typeof o?.id === 'string' && (o.type === 'result' || o.type === 'error');
};

export class PortLink<Out = ClientMessage> implements Link<Out, HostMessage> {
  private port: PortLike | null = null;
  private opening = false;
  private readonly queue: Out[] = [];
  private readonly inFlight = new Set<string>();
  private receive: (message: HostMessage) => void = () => {};
  private awake: ReturnType<typeof setInterval> | undefined;
  /** When KEEP_AWAKE was last posted (Date.now()). */
  private lastAwake = -Infinity;

  constructor(private readonly options: PortLinkOptions<Out>) {}

  listen(receive: (message: HostMessage) => void): void {
    this.receive = receive;
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  send(out: Out): void {
    const message = this.options.messageOf?.(out) ?? (out as unknown as ClientMessage);
    if (message.type === 'request') {
      if (this.inFlight.has(message.id)) {
        this.answer(message.id, { name: 'DataError', message: `request id ${message.id} is already in flight` });
        return;
      }
      this.inFlight.add(message.id);
      this.keepAwake();
    } else {
      this.inFlight.delete(message.id); // an abort: the caller has already given up on the request
    }
    if (this.port) this.post(this.port, out);
    else {
      this.queue.push(out);
      this.open();
    }
  }

  /** Uses `port` from now on: one that connected to this end (the offscreen document reconnecting). */
  attach(port: PortLike): void {
    this.port = port;
    listen(port, this.options.receiveLimit, (raw) => {
      if (this.options.control?.(raw)) return;
      if (isFinalRaw(raw)) this.inFlight.delete(raw.id);
      this.receive(raw as HostMessage);
    });
    port.onDisconnect.addListener(() => {
      if (this.port !== port) return; // a port this link already let go of
      this.port = null;
      this.failAll(this.options.lost);
      this.options.closed?.();
    });
    for (const out of this.queue.splice(0)) this.post(port, out);
  }

  /** Forgets a request the other end handed back unanswered (it is sent on elsewhere). */
  forget(id: string): void {
    this.inFlight.delete(id);
  }

  /** Posts a control message (not a request) on the open port, if there is one. */
  signal(message: unknown): void {
    try {
      this.port?.postMessage(message);
    } catch {
      /* closed: onDisconnect fails the requests */
    }
  }

  /**
   * Posts KEEP_AWAKE every `keepAwakeMs` until no request is in flight, and with a new request when the last one is
   * that old. The interval alone is not enough: requests on a MessageChannel are no extension events, and a page
   * making requests shorter than the interval with pauses between them (a WebGPU call of 3.5 s every 6 s) can have
   * none in flight at every tick; Firefox then unloaded the background page in the middle of one.
   */
  private keepAwake(): void {
    const every = this.options.keepAwakeMs;
    if (every === undefined) return;
    // A port still to be opened needs no ping: connecting is an event itself.
    if (this.port && Date.now() - this.lastAwake >= every) this.ping();
    if (this.awake !== undefined) return;
    this.awake = setInterval(() => {
      if (this.inFlight.size > 0) return this.ping();
      clearInterval(this.awake);
      this.awake = undefined;
    }, every);
  }

  private ping(): void {
    this.lastAwake = Date.now();
    this.signal(KEEP_AWAKE);
  }

  /** Fails every request in flight with OperationError(reason) and closes the port; the next send opens a new one. */
  drop(reason: string): void {
    const port = this.port;
    this.port = null;
    this.failAll(reason);
    try {
      port?.disconnect();
    } catch {
      /* already gone */
    }
  }

  private open(): void {
    if (this.opening) return;
    this.opening = true;
    const done = () => {
      this.opening = false;
    };
    let opened: PortLike | Promise<PortLike>;
    try {
      opened = this.options.connect();
    } catch (err) {
      done();
      this.failQueued(err);
      return;
    }
    if (opened instanceof Promise) {
      opened.then(
        (port) => {
          done();
          this.attach(port);
        },
        (err) => {
          done();
          this.failQueued(err);
        },
      );
    } else {
      done();
      this.attach(opened);
    }
  }

  private post(port: PortLike, out: Out): void {
    try {
      post(port, out);
    } catch (err) {
      const message = this.options.messageOf?.(out) ?? (out as unknown as ClientMessage);
      if (message.type === 'request' && this.inFlight.delete(message.id))
        this.answer(message.id, this.unreachable(err));
    }
  }

  private failQueued(err: unknown): void {
    const error = err instanceof WebqError ? toWireError(err) : this.unreachable(err);
    for (const out of this.queue.splice(0)) {
      const message = this.options.messageOf?.(out) ?? (out as unknown as ClientMessage);
      if (message.type === 'request' && this.inFlight.delete(message.id)) this.answer(message.id, error);
    }
  }

  private failAll(reason: string): void {
    const error = toWireError(new WebqError('OperationError', reason));
    const ids = [...this.inFlight];
    this.inFlight.clear();
    for (const id of ids) this.answer(id, error);
  }

  private unreachable(err: unknown): WireError {
    const why = err instanceof Error ? err.message : String(err);
    return toWireError(new WebqError('OperationError', `${this.options.unreachable}: ${why}`));
  }

  private answer(id: string, error: WireError): void {
    this.receive({ type: 'error', id, error });
  }
}
