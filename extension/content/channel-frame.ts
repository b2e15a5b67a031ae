/**
 * The hidden frame a bridge opens once per channelled port (content/channel.ts): an extension page, so it can reach
 * the relay that hands the channel on to the engine host — Chrome's service worker (background/channel-relay.ts),
 * Firefox's SharedWorker (background/channel-worker.ts). It passes on one thing, a MessagePort with its nonce, from
 * its parent only; what the nonce is worth is decided in the engine host, which knows which bridge offered it
 * (shared/channel-port.ts).
 */
import { handoffIn, type ChannelHandoff } from '../shared/channel-port';
import { openChannelRelay } from '../shared/channel-relay-firefox';

declare const __WEBQ_BROWSER__: 'chrome' | 'firefox';

function handOn(handoff: ChannelHandoff, port: MessagePort): void {
  if (__WEBQ_BROWSER__ === 'firefox') {
    openChannelRelay().port.postMessage(handoff, [port]);
    return;
  }
  navigator.serviceWorker.ready.then(
    (registration) => registration.active?.postMessage(handoff, [port]),
    () => port.close(),
  );
}

window.addEventListener('message', (event: MessageEvent) => {
  const got = event.source === window.parent ? handoffIn(event) : null;
  if (got) handOn(got.handoff, got.port);
});
