/** The envelope on window.postMessage between the MAIN-world script and the isolated bridge. */
import type { ClientMessage, HostMessage } from './protocol';

export const PAGE_TAG = 'webq:page';
export const BRIDGE_TAG = 'webq:bridge';

export type WindowEnvelope =
  | { tag: typeof PAGE_TAG; message?: ClientMessage; hello?: true }
  | { tag: typeof BRIDGE_TAG; message?: HostMessage; ready?: true };
