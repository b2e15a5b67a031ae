/**
 * The bridge's way to the engine: the router's page port, and in Chrome, once the router says so, a direct port to
 * the offscreen document (shared/direct.ts). Requests go direct while the bridge holds the router's `direct`; one the
 * engine host answers with `reroute` (no grant there, e.g. consent changed) is sent through the router again, and so
 * are the requests after it until the router says `direct` once more. An abort goes the way its request went.
 */
import { isSignal, type RerouteSignal } from '../shared/direct';
import { KEEP_AWAKE_MS, PortLink, type Link, type PortLike } from '../shared/link';
import { RESULT_BYTES_LIMIT } from '../shared/port-wire';
import { DIRECT_PORT, PAGE_PORT } from '../shared/ports';
import type { ClientMessage, HostMessage, RequestMessage } from '../shared/protocol';
import { isFinal } from '../shared/protocol';

export class BridgeLink implements Link {
  private readonly router: PortLink;
  private readonly direct: PortLink;
  private useDirect = false;
  /** Requests sent direct and not answered yet; the message itself until the first reply (a reroute is one). */
  private readonly onDirect = new Map<string, RequestMessage | null>();
  private receive: (message: HostMessage) => void = () => {};

  constructor(connect: (name: string) => PortLike) {
    const common = {
      receiveLimit: RESULT_BYTES_LIMIT,
      keepAwakeMs: KEEP_AWAKE_MS,
      lost: 'the webq extension restarted while this request was running; call again',
      unreachable: 'webq could not reach its background',
    };
    this.router = new PortLink({
      ...common,
      connect: () => connect(PAGE_PORT),
      control: (raw) => {
        if (!isSignal(raw, 'direct')) return false;
        this.useDirect = true;
        return true;
      },
    });
    this.direct = new PortLink({
      ...common,
      lost: 'the engine host closed while this request was running; call again',
      connect: () => connect(DIRECT_PORT),
      control: (raw) => {
        if (!isSignal<RerouteSignal>(raw, 'reroute')) return false;
        this.reroute(raw.id, raw.message);
        return true;
      },
      closed: () => {
        this.useDirect = false;
      },
    });
    this.router.listen((message) => this.receive(message));
    this.direct.listen((message) => {
      if (isFinal(message)) this.onDirect.delete(message.id);
      else if (this.onDirect.has(message.id)) this.onDirect.set(message.id, null);
      this.receive(message);
    });
  }

  listen(receive: (message: HostMessage) => void): void {
    this.receive = receive;
  }

  send(message: ClientMessage): void {
    if (message.type === 'abort') {
      const wentDirect = this.onDirect.delete(message.id);
      (wentDirect ? this.direct : this.router).send(message);
      return;
    }
    if (!this.useDirect) return this.router.send(message);
    this.onDirect.set(message.id, message);
    this.direct.send(message);
  }

  /** `sent` is the request as the engine host got it (whole, where the channel moved this end's arrays away). */
  private reroute(id: string, sent?: RequestMessage): void {
    const kept = this.onDirect.get(id);
    const message = kept && sent?.type === 'request' && sent.id === id ? sent : kept;
    this.onDirect.delete(id);
    this.direct.forget(id);
    this.useDirect = false;
    if (message) this.router.send(message);
  }
}
