/** Chrome/Edge service worker: router + consent; the engine runs in an offscreen document. */
import { syncLanguageModelGlobal } from '../content/language-model-global';
import { listenForAnswers } from './consent';
import { relayChannels } from './channel-relay';
import { OFFSCREEN_PATH, OffscreenLink } from './offscreen-link';
import { startRouter } from './router';

listenForAnswers();
const engine = new OffscreenLink();
// Pages' bridges send straight to the offscreen document once the router let their origin through (shared/direct.ts).
startRouter(engine, { direct: engine });
// ...and, once their channel is in place, over a MessageChannel rather than the runtime port (shared/channel-port.ts).
relayChannels(OFFSCREEN_PATH);
// window.LanguageModel on pages follows the options page's switch (content/language-model-global.ts).
syncLanguageModelGlobal().catch((err: unknown) => console.warn('webq: window.LanguageModel switch', err));
