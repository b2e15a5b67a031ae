/**
 * Firefox hands content scripts the page's objects through Xray wrappers, which hide some contents (a BigInt64Array
 * reads as undefined) and make every property read slow. That is what arrives on the window (`message` events) and,
 * because a content script's MessageChannel belongs to the page's window, on the bridge's channel too. A structured
 * clone of the unwrapped value gives the bridge its own copy; in Chrome, whose content scripts have their own
 * objects, the value is used as it is.
 */
import { transferList } from '../shared/port-wire';

const waived = (value: unknown): unknown => (value as { wrappedJSObject?: unknown } | null)?.wrappedJSObject;

/** The bridge's own copy of a wrapped value, its arrays copied (null if it cannot be cloned). */
export function ownCopy(value: unknown): unknown {
  const raw = waived(value);
  if (raw === undefined) return value;
  try {
    return structuredClone(raw);
  } catch {
    return null;
  }
}

/**
 * The bridge's own version of a message that nothing else needs: a webq envelope the page posted (the page client
 * posts its own copy of the caller's arrays) or a message off the channel. Its arrays' buffers move into the copy
 * rather than being copied, which also leaves the page nothing it could change afterwards (null if it cannot be
 * cloned).
 */
export function ownMoved(value: unknown): unknown {
  const raw = waived(value);
  if (raw === undefined) return value;
  try {
    return structuredClone(raw, { transfer: transferList(raw) });
  } catch {
    return ownCopy(value);
  }
}
