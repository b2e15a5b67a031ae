/**
 * The bridge's port to the engine host, moved onto a MessageChannel once one is in place: Chrome's direct port (the
 * fast lane of shared/direct.ts), and Firefox's page port (its background page is router and engine host in one).
 *
 * A runtime port's messages go through the browser process both ways: renderer → browser → renderer, every message,
 * every tensor byte. A MessagePort between the content script and the offscreen document is a pipe between the two
 * renderers, and a message on it needs no Blob; its arrays can move. `bench/call-overhead.ts` (docs/architecture.md,
 * "What the hops cost"): a Silero frame 0.91 ms outside inference on the channel against 1.58 ms on the runtime port;
 * 1 MiB each way 6.5 ms against 16.
 *
 * The runtime port stays: it is what the browser vouches for (the caller is its sender), and its disconnect is how
 * either end learns the other went away. The channel only carries messages, so this wraps the runtime port as a
 * `PortLike` whose messages move to the channel, and nothing above it changes (PortLink on the bridge, DirectPorts in
 * the engine host).
 *
 * How the channel gets there (content/channel.ts, content/channel-frame.ts, shared/channel-offers.ts): the bridge
 * makes a MessageChannel and a random nonce, sends the nonce on the runtime port (`offer`) and the port's other end
 * through a hidden frame of the extension and a relay (Chrome's service worker, background/channel-relay.ts;
 * Firefox's SharedWorker, background/channel-worker.ts) to the engine host, which matches the two by the nonce. A
 * nonce nobody offered matches nothing; the page never sees either.
 *
 * The switch keeps order on both ends. The engine host, when the channel arrives, sends `switch` on the runtime port
 * as its last message there and everything after it on the channel; the bridge, when it reads that `switch`, does the
 * same. Each end holds what arrives on the channel until it has read the other's `switch` on the runtime port, so a
 * stream's deltas and a request's abort are never overtaken by a message sent after them. Until then, or if the
 * channel never comes (a page that removes the frame), everything simply stays on the runtime port.
 */
import { isKeepAwake, type PortLike } from './link';
import { postMoving } from './port-wire';

const OFFER = 'webq-channel-offer';
const SWITCH = 'webq-channel-switch';

export const CHANNEL_HANDOFF = 'webq-channel';
/** Firefox: the background page's first message to the channel relay (background/channel-worker.ts). */
export const CHANNEL_HOST = 'webq-channel-host';

/** The message the channel's far end travels with, from the frame through the worker to the engine host. */
export interface ChannelHandoff {
  type: typeof CHANNEL_HANDOFF;
  nonce: string;
}

const isHandoff = (raw: unknown): raw is ChannelHandoff => {
  const o = raw as Partial<ChannelHandoff> | null;
  return o?.type === CHANNEL_HANDOFF && typeof o.nonce === 'string' && o.nonce.length >= 16 && o.nonce.length <= 64;
};

/**
 * The channel a message carries and the handoff it came with, rebuilt from its two fields (nothing else travels on);
 * null for anything else. Every hop of the hand-over reads its messages with this.
 */
export function handoffIn(event: {
  readonly data: unknown;
  readonly ports: readonly MessagePort[];
}): { handoff: ChannelHandoff; port: MessagePort } | null {
  const port = event.ports[0];
  if (!port || !isHandoff(event.data)) return null;
  return { handoff: { type: CHANNEL_HANDOFF, nonce: event.data.nonce }, port };
}

const controlOf = (raw: unknown): string | undefined => {
  const type = (raw as { type?: unknown } | null)?.type;
  return type === OFFER || type === SWITCH ? type : undefined;
};

export class ChannelPort implements PortLike {
  private channel: MessagePort | null = null;
  private sendsOnChannel = false;
  private peerSwitched = false;
  private readonly held: unknown[] = [];
  private markSwitched: () => void = () => {};
  /** Settles when this end's messages have moved to the channel (never, if no channel comes). */
  readonly switched = new Promise<void>((resolve) => (this.markSwitched = resolve));
  private readonly listeners: ((message: unknown) => void)[] = [];
  readonly onMessage = { addListener: (listener: (message: unknown) => void) => void this.listeners.push(listener) };
  readonly onDisconnect: PortLike['onDisconnect'];

  /** `offered` (engine host) hears the nonce a bridge offers on this port. */
  constructor(
    private readonly runtime: PortLike,
    offered?: (nonce: string) => void,
  ) {
    this.onDisconnect = runtime.onDisconnect;
    runtime.onMessage.addListener((raw) => {
      const control = controlOf(raw);
      if (isKeepAwake(raw)) return; // it has done its work by arriving (link.ts)
      if (control === SWITCH) this.peerSwitch();
      else if (control === OFFER) {
        const nonce = (raw as { nonce?: unknown }).nonce;
        if (typeof nonce === 'string') offered?.(nonce);
      } else this.deliver(raw);
    });
    runtime.onDisconnect.addListener(() => this.channel?.close());
  }

  /** Whether messages now go on the channel, where arrays travel as they are (port-wire.ts needs no Blob). */
  get plain(): boolean {
    return this.sendsOnChannel;
  }

  /**
   * On the channel a message's array buffers move rather than being cloned (the browser still copies them once between
   * the processes, but skips serializing them). Both ends post only what they are done with: the bridge a request it
   * forwards (one the engine host reroutes comes back whole in the `reroute`), the engine host a reply.
   */
  postMessage(message: unknown): void {
    // KEEP_AWAKE is for the browser to see arrive (link.ts): always on the runtime port.
    if (this.sendsOnChannel && !isKeepAwake(message))
      postMoving((m, transfer) => this.channel!.postMessage(m, transfer), message);
    else this.runtime.postMessage(message);
  }

  disconnect(): void {
    this.channel?.close();
    this.runtime.disconnect();
  }

  /**
   * Bridge: listens on `port` and offers its other end (handed over separately) under `nonce`. `read` makes each
   * message that arrives the bridge's own (content/own-copy.ts: Firefox's Xray wrappers); null drops it.
   */
  offer(nonce: string, port: MessagePort, read: (data: unknown) => unknown = (data) => data): void {
    this.listenOn(port, read);
    this.runtime.postMessage({ type: OFFER, nonce });
  }

  /** Engine host: the channel a bridge offered has arrived; switch to it. */
  use(port: MessagePort): void {
    if (this.channel) return port.close();
    this.listenOn(port);
    this.switchSends();
  }

  private listenOn(port: MessagePort, read: (data: unknown) => unknown = (data) => data): void {
    this.channel = port;
    port.onmessage = (event: MessageEvent) => {
      const message = read(event.data);
      if (message === null) return console.warn('webq: dropped a channel message that could not be read');
      if (this.peerSwitched) this.deliver(message);
      else this.held.push(message);
    };
  }

  private switchSends(): void {
    if (this.sendsOnChannel || !this.channel) return;
    try {
      this.runtime.postMessage({ type: SWITCH });
    } catch {
      // The runtime port has closed (the tab or the document went away): its disconnect ends everything.
      this.channel.close();
      return;
    }
    this.sendsOnChannel = true;
    this.markSwitched();
  }

  private peerSwitch(): void {
    if (!this.channel) return;
    this.peerSwitched = true;
    for (const message of this.held.splice(0)) this.deliver(message);
    this.switchSends();
  }

  private deliver(message: unknown): void {
    for (const listener of this.listeners) listener(message);
  }
}
