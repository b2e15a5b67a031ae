/**
 * Firefox's relay for a bridge's MessageChannel (shared/channel-port.ts), a SharedWorker of the extension. Chrome
 * relays through its service worker (background/channel-relay.ts); in Firefox the channel frame
 * (content/channel-frame.ts), an extension page inside a web page, cannot reach the background page at all (no
 * `getBackgroundPage` there), but both can open this worker. The background page connects first and says it is the
 * host; each frame hands over one channel with its nonce, and it goes on to the host, which matches the nonce to the
 * page port that offered it (shared/channel-offers.ts).
 *
 * Only pages of the extension's own origin can open or reach a SharedWorker at this URL, so every connection is the
 * extension's. A channel with no host to take it is closed, and its bridge keeps its runtime port.
 */
import { CHANNEL_HOST, handoffIn } from '../shared/channel-port';

/** The parts of the SharedWorker scope this uses (the project's lib is DOM, not WebWorker). */
interface ConnectScope {
  onconnect: ((event: MessageEvent) => void) | null;
}

let host: MessagePort | null = null;

(self as unknown as ConnectScope).onconnect = (event: MessageEvent) => {
  const port = event.ports[0];
  if (!port) return;
  port.onmessage = (message: MessageEvent) => {
    if ((message.data as { type?: unknown } | null)?.type === CHANNEL_HOST) {
      host = port; // a restarted background page takes over
      return;
    }
    const got = handoffIn(message);
    if (!got) return;
    if (host) host.postMessage(got.handoff, [got.port]);
    else got.port.close();
  };
};
