/**
 * MAIN-world content script: defines `window.webq` on every page. Built as a self-contained IIFE (no module
 * loader), so it works under strict page CSPs. It talks to the isolated bridge (content/bridge.iife.ts) with
 * window.postMessage; the bridge holds the extension APIs.
 */
import { createWebq } from './client';
import { windowLink } from '../shared/window-envelope';

declare const __WEBQ_VERSION__: string;

if (!('webq' in window)) {
  Object.defineProperty(window, 'webq', {
    value: createWebq(windowLink(), __WEBQ_VERSION__),
    enumerable: false,
    configurable: false,
    writable: false,
  });
}
