/** Firefox background page: router + consent, and the engine host itself (Firefox has no offscreen API). */
import browser from 'webextension-polyfill';
import { Engine } from '../host/engine';
import { browserInfo } from '../host/browser-info';
import { syncLanguageModelGlobal } from '../content/language-model-global';
import { listenForAnswers } from './consent';
import { startRouter, type EngineLink } from './router';
import type { HostMessage } from '../shared/protocol';
import { ChannelOffers } from '../shared/channel-offers';
import { CHANNEL_HOST, handoffIn } from '../shared/channel-port';
import { openChannelRelay } from '../shared/channel-relay-firefox';

const engine = new Engine({ browser: browserInfo(), extensionOrigin: new URL(browser.runtime.getURL('')).origin });
let receive: (m: HostMessage) => void = () => {};
const local: EngineLink = {
  send: ({ message, caller }) => engine.receive(message, caller, (m) => receive(m)),
  listen: (r) => {
    receive = r;
  },
};
listenForAnswers();
// Pages' ports move onto MessageChannels, handed on by the relay worker (background/channel-worker.ts).
const channels = new ChannelOffers();
const relay = openChannelRelay();
relay.port.onmessage = (event: MessageEvent) => {
  const got = handoffIn(event);
  if (got) channels.channel(got.handoff.nonce, got.port);
};
relay.port.postMessage({ type: CHANNEL_HOST });
startRouter(local, { channels });
// window.LanguageModel on pages follows the options page's switch (content/language-model-global.ts).
syncLanguageModelGlobal().catch((err: unknown) => console.warn('webq: window.LanguageModel switch', err));
// The background page is going away (reloaded, the extension updated or disabled): its downloads and runs are cut
// off mid-way. Say so, rather than the NetworkError a cut-off download would report, so the page knows to call again.
// Firefox stops the page's network loads soon after beforeunload, well before pagehide.
for (const event of ['beforeunload', 'pagehide']) {
  addEventListener(event, () =>
    engine.close('the webq background page restarted while this request was running; call again'),
  );
}
