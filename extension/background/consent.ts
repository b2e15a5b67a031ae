/**
 * Per-origin consent (SPEC §3). The first call from an origin opens the extension's prompt and waits for the
 * answer; the answer is remembered in storage.local and can be revoked from the options page. Concurrent calls
 * from one origin share one prompt. Closing the prompt without answering denies the waiting calls and is counted.
 *
 * A page must not be able to push the prompt at the user: a new prompt opens only for a call made with transient
 * user activation (stamped by the isolated bridge, which the page cannot forge) from the tab in front. After two
 * dismissals an origin is not prompted by window again: it waits in the toolbar popup (with a badge on the action)
 * until the user decides there.
 */
import browser from 'webextension-polyfill';
import { WebqError } from '../shared/errors';

export type Decision = 'allow' | 'deny';
const KEY = 'consent';
/** Origin → how many times its prompt was closed without an answer since its last decision. */
const DISMISSALS = 'consentDismissals';
/** The storage.local keys consent keeps (pages showing it re-render when one changes). */
export const CONSENT_STORAGE_KEYS: readonly string[] = [KEY, DISMISSALS];
/** After this many dismissals the origin is asked from the popup only. */
export const DISMISSALS_BEFORE_POPUP = 2;

/** What the router knows about a page's call, from the bridge's stamp and the port's sender. */
export interface ConsentContext {
  gesture: boolean;
  tabId?: number;
}

/**
 * Decisions are checked on every request, so the background keeps them in memory, re-read when storage changes
 * (the options page revoking one, or another context answering).
 */
let cached: Promise<Record<string, Decision>> | null = null;
const changeListeners: (() => void)[] = [];
browser.storage.onChanged.addListener((changes, area) => {
  if (area !== 'local' || !(KEY in changes)) return;
  cached = null;
  for (const listener of changeListeners) listener();
});

/** Calls `listener` whenever a decision is made, changed or revoked (in any of the extension's contexts). */
export function onConsentChange(listener: () => void): void {
  changeListeners.push(listener);
}

export async function readConsent(): Promise<Record<string, Decision>> {
  cached ??= browser.storage.local.get(KEY).then((items) => {
    const stored = items[KEY];
    return stored && typeof stored === 'object' ? { ...(stored as Record<string, Decision>) } : {};
  });
  return { ...(await cached) };
}

async function readDismissals(): Promise<Record<string, number>> {
  const stored = (await browser.storage.local.get(DISMISSALS))[DISMISSALS];
  return stored && typeof stored === 'object' ? { ...(stored as Record<string, number>) } : {};
}

/** Origins that were dismissed too often to be prompted by window: they wait for a decision in the popup. */
export async function readPending(): Promise<string[]> {
  const counts = await readDismissals();
  return Object.keys(counts)
    .filter((origin) => counts[origin]! >= DISMISSALS_BEFORE_POPUP)
    .sort();
}

async function resetDismissals(origin: string): Promise<void> {
  const counts = await readDismissals();
  if (!(origin in counts)) return;
  delete counts[origin];
  await browser.storage.local.set({ [DISMISSALS]: counts });
}

/** Counts one dismissal; returns the new count. */
async function countDismissal(origin: string): Promise<number> {
  const counts = await readDismissals();
  counts[origin] = (counts[origin] ?? 0) + 1;
  await browser.storage.local.set({ [DISMISSALS]: counts });
  return counts[origin];
}

/** Stores a decision (from the prompt, or from the popup's list of waiting sites); it resets the dismissals. */
export async function remember(origin: string, decision: Decision): Promise<void> {
  const all = await readConsent();
  all[origin] = decision;
  cached = Promise.resolve(all);
  await browser.storage.local.set({ [KEY]: all });
  await resetDismissals(origin);
  await refreshBadge();
}

/** Revokes a decision (options page): the origin is asked again by window, its dismissals forgotten. */
export async function forget(origin: string): Promise<void> {
  const all = await readConsent();
  delete all[origin];
  cached = Promise.resolve(all);
  await browser.storage.local.set({ [KEY]: all });
  await resetDismissals(origin);
  await refreshBadge();
}

/** The action's badge: how many sites wait for a decision in the popup (none: no badge). */
export async function refreshBadge(): Promise<void> {
  const action = browser.action;
  if (!action) return;
  const count = (await readPending()).length;
  await action.setBadgeText({ text: count > 0 ? String(count) : '' });
  await action.setTitle({ title: count > 0 ? `webq: ${count} site(s) waiting for your decision` : 'webq' });
}

/** How a prompt ended: a decision, or closed without one (with the origin's dismissal count, counted once). */
type Outcome = Decision | { dismissals: number };

interface OpenPrompt {
  windowId?: number;
  tabId?: number;
  settle(decision: Decision | null): void;
}
const prompts = new Map<string, { promise: Promise<Outcome>; open: OpenPrompt }>();

function openPrompt(origin: string): Promise<Outcome> {
  let settle!: (d: Decision | null) => void;
  let fail!: (err: Error) => void;
  const answered = new Promise<Decision | null>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const promise = answered.then(async (d): Promise<Outcome> => d ?? { dismissals: await dismissed(origin) });
  const open: OpenPrompt = {
    settle: (d) => {
      prompts.delete(origin);
      settle(d);
    },
  };
  prompts.set(origin, { promise, open });
  showPrompt(origin).then(
    (where) => Object.assign(open, where),
    (err: Error) => {
      prompts.delete(origin);
      fail(new WebqError('OperationError', `webq could not open its permission prompt: ${err.message}`));
    },
  );
  return promise;
}

/** Opens the prompt page: a popup window, or a tab where there are no windows (Firefox for Android). */
async function showPrompt(origin: string): Promise<{ windowId?: number; tabId?: number }> {
  const url = browser.runtime.getURL(`extension/prompt/prompt.html?origin=${encodeURIComponent(origin)}`);
  if (browser.windows) {
    const win = await browser.windows.create({ url, type: 'popup', width: 460, height: 320, focused: true });
    return { windowId: win.id };
  }
  return { tabId: (await browser.tabs.create({ url })).id };
}

/** Counts a prompt closed without an answer; from the second on, the origin waits in the popup (badge). */
async function dismissed(origin: string): Promise<number> {
  const count = await countDismissal(origin);
  if (count >= DISMISSALS_BEFORE_POPUP) await refreshBadge();
  return count;
}

/** Whether the call's tab is the one in front of its window (a background tab may not raise a prompt). */
async function inFront(tabId: number | undefined): Promise<boolean> {
  if (tabId === undefined) return false;
  try {
    return (await browser.tabs.get(tabId)).active === true;
  } catch {
    return false;
  }
}

/** Refuses, with the reason, a call that may not open a new prompt; resolves when it may. */
async function checkMayPrompt(origin: string, context: ConsentContext): Promise<void> {
  if ((await readPending()).includes(origin)) {
    await refreshBadge();
    throw new WebqError(
      'NotAllowedError',
      `${origin} is waiting for your decision: its webq permission prompt ` +
        "was closed twice without an answer, so webq does not open it again; allow or deny the site from webq's " +
        'toolbar popup',
    );
  }
  if (!context.gesture) {
    throw new WebqError(
      'NotAllowedError',
      `${origin} has not been allowed to use webq yet, and webq asks for ` +
        'permission only after a user gesture (click or keypress) on the page: make the first call from a click or ' +
        'key handler',
    );
  }
  if (!(await inFront(context.tabId))) {
    throw new WebqError(
      'NotAllowedError',
      `webq asks ${origin} for permission only from the tab in front: ` +
        'the tab must be in front (the active tab of its window) when it calls webq for the first time',
    );
  }
}

function closedError(origin: string, dismissals: number): WebqError {
  if (dismissals < DISMISSALS_BEFORE_POPUP) {
    return new WebqError('NotAllowedError', `the webq permission prompt for ${origin} was closed without an answer`);
  }
  return new WebqError(
    'NotAllowedError',
    `the webq permission prompt for ${origin} was closed without an answer ` +
      `${dismissals} times; webq will not open it again: decide from webq's toolbar popup`,
  );
}

/**
 * Resolves when `origin` may use webq; rejects with NotAllowedError otherwise. A call joins a prompt already open
 * for its origin; a new prompt needs `context` to show a user gesture from the tab in front.
 */
export async function requireConsent(origin: string, context: ConsentContext): Promise<void> {
  const known = (await readConsent())[origin];
  if (known === 'allow') return;
  if (known === 'deny') {
    throw new WebqError(
      'NotAllowedError',
      `${origin} is not allowed to use webq (denied by the user; change it in the webq options page)`,
    );
  }
  let open = prompts.get(origin)?.promise;
  if (!open) {
    await checkMayPrompt(origin, context);
    open = prompts.get(origin)?.promise ?? openPrompt(origin); // another call may have opened it meanwhile
  }
  const outcome = await open;
  if (outcome === 'allow') return;
  if (outcome === 'deny') {
    throw new WebqError('NotAllowedError', `${origin} is not allowed to use webq (denied by the user)`);
  }
  throw closedError(origin, outcome.dismissals);
}

/** Wires the prompt's answer messages, window closing and the badge. Call once at background start. */
export function listenForAnswers(): void {
  browser.runtime.onMessage.addListener((raw: unknown, sender: browser.Runtime.MessageSender) => {
    const m = raw as { type?: unknown; origin?: unknown; decision?: unknown } | null;
    if (!m || m.type !== 'webq-consent-answer') return undefined;
    // Only the extension's own prompt page may answer.
    if (!sender.url?.startsWith(browser.runtime.getURL('extension/prompt/prompt.html'))) return undefined;
    if (typeof m.origin !== 'string' || (m.decision !== 'allow' && m.decision !== 'deny')) return undefined;
    const origin = m.origin;
    const decision = m.decision;
    return remember(origin, decision).then(() => {
      prompts.get(origin)?.open.settle(decision);
      return { ok: true };
    });
  });
  browser.windows?.onRemoved.addListener((windowId) => {
    for (const { open } of prompts.values()) if (open.windowId === windowId) open.settle(null);
  });
  browser.tabs.onRemoved.addListener((tabId) => {
    for (const { open } of prompts.values()) if (open.tabId === tabId) open.settle(null);
  });
  // Decisions and dismissals change from the popup and the options page too: keep the badge in step.
  browser.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && (KEY in changes || DISMISSALS in changes)) void refreshBadge();
  });
  void refreshBadge();
}
