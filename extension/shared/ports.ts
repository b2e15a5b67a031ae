/** runtime.Port names: who is on the other end decides what the background allows. */
export const PAGE_PORT = 'webq-page'; // content-script bridge of a web page: consent applies
export const UI_PORT = 'webq-ui'; // the extension's own popup and options pages
export const ENGINE_PORT = 'webq-engine'; // Chrome's offscreen document (the engine host) to the service worker
/**
 * Chrome: a content-script bridge straight to the offscreen document, for an origin the router has granted (the
 * service worker is off the path of its requests; see shared/direct.ts).
 */
export const DIRECT_PORT = 'webq-direct';
/** Chrome: the hidden extension frame that carries a direct port's MessageChannel to the worker (channel-port.ts). */
export const CHANNEL_FRAME_PATH = 'extension/content/channel-frame.html';
