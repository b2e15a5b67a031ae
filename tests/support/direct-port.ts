/**
 * A bridge's direct port into DirectPorts (host/direct-ports.ts), for unit tests: an in-memory port pair whose near
 * end carries what the browser would say about a content script in a tab of `origin` (extension id `ext`).
 */
import type { DirectPorts } from '../../extension/host/direct-ports';
import { DIRECT_PORT } from '../../extension/shared/ports';
import { portPair, type End } from './port-pair';

/** Connects a bridge of `origin` to `direct`; returns the bridge's end. */
export function directPortFrom(direct: DirectPorts, origin: string): End {
  const [near, far] = portPair();
  Object.assign(near, {
    name: DIRECT_PORT,
    sender: { id: 'ext', url: `${origin}/page`, tab: { id: 7, url: `${origin}/` } },
  });
  direct.accept(near as unknown as chrome.runtime.Port);
  return far;
}
