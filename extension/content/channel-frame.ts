/**
 * The hidden frame a Chrome bridge opens once per direct port (content/channel.ts): an extension page, so it can
 * reach the service worker, which hands the channel on to the engine host (background/channel-relay.ts). It passes
 * on one thing, a MessagePort with its nonce, from its parent only; what the nonce is worth is decided in the engine
 * host, which knows which bridge offered it (shared/channel-port.ts).
 */
import { CHANNEL_HANDOFF, isHandoff, type ChannelHandoff } from '../shared/channel-port';

window.addEventListener('message', (event: MessageEvent) => {
  const port = event.ports[0];
  if (event.source !== window.parent || !port || !isHandoff(event.data)) return;
  const handoff: ChannelHandoff = { type: CHANNEL_HANDOFF, nonce: event.data.nonce };
  navigator.serviceWorker.ready.then(
    (registration) => registration.active?.postMessage(handoff, [port]),
    () => port.close(),
  );
});
