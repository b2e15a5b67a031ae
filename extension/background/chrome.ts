/** Chrome/Edge service worker: router + consent; the engine runs in an offscreen document. */
import { listenForAnswers } from './consent';
import { OffscreenLink } from './offscreen-link';
import { startRouter } from './router';

listenForAnswers();
startRouter(new OffscreenLink());
