/** Firefox background page: router + consent, and the engine host itself (Firefox has no offscreen API). */
import browser from 'webextension-polyfill';
import { Engine } from '../host/engine';
import { browserInfo } from '../host/browser-info';
import { listenForAnswers } from './consent';
import { startRouter, type EngineLink } from './router';
import type { HostMessage } from '../shared/protocol';

const engine = new Engine({ browser: browserInfo(), extensionOrigin: new URL(browser.runtime.getURL('')).origin });
let receive: (m: HostMessage) => void = () => {};
const local: EngineLink = {
  send: (message, caller) => engine.receive(message, caller, (m) => receive(m)),
  listen: (r) => { receive = r; },
};
listenForAnswers();
startRouter(local);
