/**
 * Who is on the other end of a runtime.Port, from what the browser says about its sender (never from the messages):
 * the router (background) and Chrome's engine host (direct ports from content scripts) decide it the same way.
 */
import type { Caller } from './protocol';
import { DIRECT_PORT, PAGE_PORT, UI_PORT } from './ports';

/** The part of runtime.MessageSender this needs (chrome.* and browser.* both have it). */
export interface PortSender {
  id?: string;
  url?: string;
  origin?: string;
  tab?: { id?: number; url?: string };
}

/**
 * The caller behind a port of this extension, or null for a port to refuse: a UI port must come from one of the
 * extension's own pages; a page port (through the router or direct) from a content script in a tab of a web page.
 */
export function callerOf(
  name: string,
  sender: PortSender | undefined,
  extension: { id: string; origin: string },
): Caller | null {
  if (!sender || sender.id !== extension.id) return null;
  if (name === UI_PORT) {
    return sender.url && new URL(sender.url).origin === extension.origin ? { origin: extension.origin } : null;
  }
  if ((name !== PAGE_PORT && name !== DIRECT_PORT) || !sender.tab || !sender.url) return null;
  const origin = sender.origin ?? new URL(sender.url).origin;
  if (origin === 'null' || origin === extension.origin) return null;
  // The tab's top-level origin partitions the models this caller names (SPEC §3); a frame without one is its own top.
  let topOrigin = origin;
  try {
    if (sender.tab.url) topOrigin = new URL(sender.tab.url).origin;
  } catch {
    /* keep the caller's own */
  }
  return { origin, tabId: sender.tab.id, topOrigin: topOrigin === 'null' ? origin : topOrigin };
}
