/**
 * The extension pages' way to the engine: a PortLink (shared/link.ts) on a runtime.Port named UI_PORT to the
 * background router, which accepts it from the extension's own pages without a consent prompt. `createExtensionWebq`
 * (the client web pages get, plus calibration) runs on top of it, so the popup exercises exactly the validation,
 * progress and abort paths a page does.
 *
 * Chrome's service worker may be stopped and restarted; its port then disconnects. The link fails the requests in
 * flight with an OperationError (they would otherwise wait forever) and opens a new port on the next request. While
 * requests are in flight it keeps Firefox's background page from being unloaded (KEEP_AWAKE, shared/link.ts).
 */
import browser from 'webextension-polyfill';
import { createExtensionWebq, type ExtensionWebq } from '../page/client';
import { KEEP_AWAKE_MS, PortLink, type Link } from '../shared/link';
import { RESULT_BYTES_LIMIT } from '../shared/port-wire';
import { UI_PORT } from '../shared/ports';

declare const __WEBQ_VERSION__: string;

export function uiLink(): Link {
  return new PortLink({
    connect: () => browser.runtime.connect({ name: UI_PORT }),
    receiveLimit: RESULT_BYTES_LIMIT,
    lost: 'the webq background restarted while this request was running; try again',
    unreachable: 'webq could not reach its background',
    keepAwakeMs: KEEP_AWAKE_MS,
  });
}

/** `window.webq` for extension pages. */
export function uiWebq(): ExtensionWebq {
  return createExtensionWebq(uiLink(), __WEBQ_VERSION__);
}
