/**
 * The background's router: accepts ports from the extension's own content scripts (pages, consent applies) and
 * from its own UI pages, validates every message, asks for consent, and forwards requests to the engine host
 * under ids of its own, so ids from different tabs can never collide or be forged into another tab's reply.
 */
import browser from 'webextension-polyfill';
import { toWireError, WebqError } from '../shared/errors';
import { validateClientMessage, type Caller, type ClientMessage, type HostMessage } from '../shared/protocol';
import { PAGE_PORT, UI_PORT } from '../shared/ports';
import { requireConsent } from './consent';
import { listen, post, REQUEST_PIECES_LIMIT } from '../shared/pieces';

/** The way to the engine host: an offscreen document (Chrome) or the engine in this same page (Firefox). */
export interface EngineLink {
  send(message: ClientMessage, caller: Caller): void;
  listen(receive: (message: HostMessage) => void): void;
}

interface Route { port: browser.Runtime.Port; clientId: string }

function callerOf(port: browser.Runtime.Port): Caller | null {
  const sender = port.sender;
  if (!sender || sender.id !== browser.runtime.id) return null;
  const extensionOrigin = new URL(browser.runtime.getURL('')).origin;
  if (port.name === UI_PORT) {
    return sender.url && new URL(sender.url).origin === extensionOrigin ? { origin: extensionOrigin } : null;
  }
  if (port.name !== PAGE_PORT || !sender.tab || !sender.url) return null;
  const origin = (sender as { origin?: string }).origin ?? new URL(sender.url).origin;
  if (origin === 'null' || origin === extensionOrigin) return null;
  return { origin, tabId: sender.tab.id };
}

export function startRouter(engine: EngineLink): void {
  const routes = new Map<string, Route>(); // engine id → where the reply goes
  const byClient = new Map<browser.Runtime.Port, Map<string, string>>(); // port → client id → engine id
  let next = 0;

  engine.listen((message) => {
    const route = routes.get(message.id);
    if (!route) return;
    if (message.type !== 'progress') {
      routes.delete(message.id);
      byClient.get(route.port)?.delete(route.clientId);
    }
    try { post(route.port, { ...message, id: route.clientId }); } catch { /* the tab went away */ }
  });

  browser.runtime.onConnect.addListener((port) => {
    if (port.name !== PAGE_PORT && port.name !== UI_PORT) return;
    const caller = callerOf(port);
    if (!caller) { port.disconnect(); return; }
    const ids = new Map<string, string>();
    byClient.set(port, ids);
    const fail = (clientId: string, err: unknown) => {
      try { port.postMessage({ type: 'error', id: clientId, error: toWireError(err) } satisfies HostMessage); } catch { /* gone */ }
    };

    listen(port, REQUEST_PIECES_LIMIT, async (raw: unknown) => {
      let message: ClientMessage;
      try {
        message = validateClientMessage(raw);
      } catch (err) {
        const id = (raw as { id?: unknown } | null)?.id;
        if (typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id)) fail(id, err);
        return;
      }
      if (message.type === 'abort') {
        const engineId = ids.get(message.id);
        if (engineId) { ids.delete(message.id); routes.delete(engineId); engine.send({ type: 'abort', id: engineId }, caller); }
        return;
      }
      if (ids.has(message.id)) { fail(message.id, new WebqError('DataError', `request id ${message.id} is already in flight`)); return; }
      const engineId = `r${++next}`;
      ids.set(message.id, engineId);
      try {
        if (port.name === PAGE_PORT) await requireConsent(caller.origin);
      } catch (err) {
        ids.delete(message.id);
        fail(message.id, err);
        return;
      }
      if (ids.get(message.id) !== engineId) return; // aborted while the prompt was open
      routes.set(engineId, { port, clientId: message.id });
      engine.send({ ...message, id: engineId }, caller);
    });

    // A closed tab releases its work: abort what it still has in flight.
    port.onDisconnect.addListener(() => {
      for (const engineId of ids.values()) {
        if (routes.delete(engineId)) engine.send({ type: 'abort', id: engineId }, caller);
      }
      byClient.delete(port);
    });
  });
}
