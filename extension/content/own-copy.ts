/**
 * Firefox hands content scripts the page's objects through Xray wrappers, which hide some contents (a BigInt64Array
 * reads as undefined) and make every property read slow. That is what arrives on the window (`message` events) and,
 * because a content script's MessageChannel belongs to the page's window, on the bridge's channel too. A structured
 * clone of the unwrapped value gives the bridge its own copy; in Chrome, whose content scripts have their own
 * objects, the value is used as it is.
 *
 * A copy, not a move: moving the arrays' buffers into the clone needs their list first, and walking the page's
 * objects for it crosses the compartment boundary at every property. In Firefox that walk cost more than the copy
 * it saved, for a Silero frame and for 1 MiB alike (docs/architecture.md, "Firefox, per call"). The copy also
 * leaves the page nothing it could change afterwards.
 */

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
