/**
 * Per-origin consent (SPEC §3). The first call from an origin opens the extension's prompt and waits for the
 * answer; the answer is remembered in storage.local and can be revoked from the options page. Concurrent calls
 * from one origin share one prompt. Closing the prompt without answering denies this call only.
 */
import browser from 'webextension-polyfill';
import { WebqError } from '../shared/errors';

export type Decision = 'allow' | 'deny';
const KEY = 'consent';

/**
 * Decisions are checked on every request, so the background keeps them in memory, re-read when storage changes
 * (the options page revoking one, or another context answering).
 */
let cached: Promise<Record<string, Decision>> | null = null;
browser.storage.onChanged.addListener((changes, area) => { if (area === 'local' && KEY in changes) cached = null; });

export async function readConsent(): Promise<Record<string, Decision>> {
  cached ??= browser.storage.local.get(KEY).then((items) => {
    const stored = items[KEY];
    return stored && typeof stored === 'object' ? { ...(stored as Record<string, Decision>) } : {};
  });
  return { ...(await cached) };
}

async function remember(origin: string, decision: Decision): Promise<void> {
  const all = await readConsent();
  all[origin] = decision;
  cached = Promise.resolve(all);
  await browser.storage.local.set({ [KEY]: all });
}

export async function forget(origin: string): Promise<void> {
  const all = await readConsent();
  delete all[origin];
  cached = Promise.resolve(all);
  await browser.storage.local.set({ [KEY]: all });
}

interface OpenPrompt { windowId?: number; tabId?: number; settle(decision: Decision | null): void }
const prompts = new Map<string, { promise: Promise<Decision | null>; open: OpenPrompt }>();

async function openPrompt(origin: string): Promise<Decision | null> {
  let settle!: (d: Decision | null) => void;
  const promise = new Promise<Decision | null>((resolve) => { settle = resolve; });
  const open: OpenPrompt = { settle: (d) => { prompts.delete(origin); settle(d); } };
  prompts.set(origin, { promise, open });
  const url = browser.runtime.getURL(`extension/prompt/prompt.html?origin=${encodeURIComponent(origin)}`);
  try {
    if (browser.windows) {
      const win = await browser.windows.create({ url, type: 'popup', width: 460, height: 320, focused: true });
      open.windowId = win.id;
    } else {
      const tab = await browser.tabs.create({ url });
      open.tabId = tab.id;
    }
  } catch (err) {
    open.settle(null);
    throw new WebqError('OperationError', `webq could not open its permission prompt: ${(err as Error).message}`);
  }
  return promise;
}

/** Resolves when `origin` may use webq; rejects with NotAllowedError otherwise. */
export async function requireConsent(origin: string): Promise<void> {
  const known = (await readConsent())[origin];
  if (known === 'allow') return;
  if (known === 'deny') throw new WebqError('NotAllowedError', `${origin} is not allowed to use webq (denied by the user; change it in the webq options page)`);
  const decision = await (prompts.get(origin)?.promise ?? openPrompt(origin));
  if (decision === 'allow') return;
  throw new WebqError('NotAllowedError', decision === 'deny'
    ? `${origin} is not allowed to use webq (denied by the user)`
    : `the webq permission prompt for ${origin} was closed without an answer`);
}

/** Wires the prompt's answer messages and window closing. Call once at background start. */
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
}
