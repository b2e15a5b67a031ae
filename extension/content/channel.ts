/**
 * The bridge's half of the channel set-up (shared/channel-port.ts): it wraps a new port to the engine host (Chrome's
 * direct port, Firefox's page port), offers a fresh MessageChannel under a random nonce, and sends the channel's far
 * end through a hidden frame of the extension (content/channel-frame.ts), which hands it to a relay (Chrome's service
 * worker, Firefox's SharedWorker) and so to the engine host. What arrives on the channel is read into the bridge's
 * own objects (content/own-copy.ts: in Firefox the channel belongs to the page's window).
 *
 * The frame is in the page's DOM only until the engine host has switched, or for FRAME_MS at most (a page that
 * removes the frame keeps the runtime port; a CSP `frame-src` does not stop an extension's frame). The nonce and the
 * port are posted to the frame with the extension's origin as the target, so a page that navigated the frame
 * elsewhere gets neither.
 */
import browser from 'webextension-polyfill';
import type { PortLike } from '../shared/link';
import { CHANNEL_HANDOFF, ChannelPort, type ChannelHandoff } from '../shared/channel-port';
import { CHANNEL_FRAME_PATH } from '../shared/ports';
import { ownCopy } from './own-copy';

const FRAME_MS = 10_000;

/**
 * 128 random bits as hex. Not `crypto.randomUUID`: a content script of an http page that is not on loopback is not
 * a secure context, and has only `getRandomValues`.
 */
function randomNonce(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function channelled(runtime: PortLike): PortLike {
  const wire = new ChannelPort(runtime);
  const { port1, port2 } = new MessageChannel();
  const handoff: ChannelHandoff = { type: CHANNEL_HANDOFF, nonce: randomNonce() };
  wire.offer(handoff.nonce, port1, ownCopy);

  const url = browser.runtime.getURL(CHANNEL_FRAME_PATH);
  const frame = document.createElement('iframe');
  frame.src = url;
  frame.hidden = true;
  frame.setAttribute('aria-hidden', 'true');
  frame.tabIndex = -1;
  frame.addEventListener('load', () => frame.contentWindow?.postMessage(handoff, new URL(url).origin, [port2]), {
    once: true,
  });
  const timer = setTimeout(() => frame.remove(), FRAME_MS);
  void wire.switched.then(() => {
    clearTimeout(timer);
    frame.remove();
  });
  (document.body ?? document.documentElement).append(frame);
  return wire;
}
