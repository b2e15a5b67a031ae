/**
 * The engine host's side of the channel set-up (shared/channel-port.ts): it wraps each bridge's runtime port in a
 * `ChannelPort`, remembers the nonce that port offers, and hands a MessageChannel that arrives with that nonce to that
 * port. Used where bridges' ports end: Chrome's offscreen document for direct ports (host/direct-ports.ts), Firefox's
 * background page for page ports (background/router.ts).
 *
 * A nonce matches once, within OFFER_MS, and only the port that offered it; one port offers once. A channel whose
 * nonce matches nothing is closed, and so its bridge keeps its runtime port.
 */
import { ChannelPort } from './channel-port';
import type { PortLike } from './link';

/** How long an offered channel's nonce waits for its MessagePort. */
const OFFER_MS = 30_000;

export class ChannelOffers {
  /** Offered channels not yet arrived: nonce → the port that offered it. */
  private readonly offers = new Map<string, ChannelPort>();

  /** The port to serve `runtime` through: its own messages until its channel arrives, then the channel's. */
  wrap(runtime: PortLike): ChannelPort {
    let offered: string | undefined;
    const forget = (nonce: string) => {
      if (this.offers.get(nonce) === port) this.offers.delete(nonce);
    };
    const port = new ChannelPort(runtime, (nonce) => {
      if (offered !== undefined || this.offers.has(nonce)) return; // one channel per port, one port per nonce
      offered = nonce;
      this.offers.set(nonce, port);
      setTimeout(() => forget(nonce), OFFER_MS);
    });
    port.onDisconnect.addListener(() => offered !== undefined && forget(offered));
    return port;
  }

  /** A MessageChannel handed on by the relay: the port that offered `nonce` moves onto it; else it is closed. */
  channel(nonce: string, channel: MessagePort): void {
    const wire = this.offers.get(nonce);
    this.offers.delete(nonce);
    if (wire) wire.use(channel);
    else channel.close();
  }
}
