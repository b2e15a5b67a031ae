/** Chrome/Edge service worker: router + consent; the engine runs in an offscreen document. */
import { syncLanguageModelGlobal } from '../content/language-model-global';
import { listenForAnswers } from './consent';
import { OffscreenLink } from './offscreen-link';
import { startRouter } from './router';

listenForAnswers();
const engine = new OffscreenLink();
// Pages' bridges send straight to the offscreen document once the router let their origin through (shared/direct.ts).
startRouter(engine, { direct: engine });
// window.LanguageModel on pages follows the options page's switch (content/language-model-global.ts).
syncLanguageModelGlobal().catch((err: unknown) => console.warn('webq: window.LanguageModel switch', err));
