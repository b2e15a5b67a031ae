/**
 * Chrome: the engine host is an offscreen document. It is created on demand, race-free (one shared creation
 * promise, checked against runtime.getContexts), and connects back with a port; the port's traffic — requests,
 * progress, keep-alive pings while work is in flight — keeps this service worker awake. If the worker was
 * restarted while the document lived on, the document reconnects and requests wait for it.
 */
import { toWireError, WebqError } from '../shared/errors';
import { ENGINE_PORT } from '../shared/ports';
import type { Caller, ClientMessage, HostMessage } from '../shared/protocol';
import type { EngineLink } from './router';
import { listen, post, RESULT_PIECES_LIMIT } from '../shared/pieces';

const OFFSCREEN_PATH = 'extension/host/offscreen.html';
const CONNECT_TIMEOUT_MS = 20_000;

export interface EngineEnvelope { message: ClientMessage; caller: Caller }

export class OffscreenLink implements EngineLink {
  private port: chrome.runtime.Port | null = null;
  private creating: Promise<void> | null = null;
  private waiters: ((port: chrome.runtime.Port) => void)[] = [];
  private receive: (message: HostMessage) => void = () => {};
  private inFlight = new Set<string>();

  constructor() {
    chrome.runtime.onConnect.addListener((port) => {
      if (port.name !== ENGINE_PORT) return;
      if (port.sender?.url !== chrome.runtime.getURL(OFFSCREEN_PATH)) { port.disconnect(); return; }
      this.port = port;
      listen(port, RESULT_PIECES_LIMIT, (raw) => {
        const m = raw as HostMessage | { type: 'keepalive' };
        if (m.type === 'keepalive') return;
        if (m.type !== 'progress') this.inFlight.delete(m.id);
        this.receive(m);
      });
      port.onDisconnect.addListener(() => {
        if (this.port === port) this.port = null;
        this.failInFlight('the engine host closed while this request was running; call again');
      });
      for (const w of this.waiters.splice(0)) w(port);
    });
  }

  listen(receive: (message: HostMessage) => void): void {
    this.receive = receive;
  }

  send(message: ClientMessage, caller: Caller): void {
    if (message.type === 'request') this.inFlight.add(message.id);
    this.connected().then(
      (port) => post(port, { message, caller } satisfies EngineEnvelope),
      (err) => {
        if (message.type !== 'request') return;
        this.inFlight.delete(message.id);
        this.receive({ type: 'error', id: message.id, error: toWireError(err) });
      },
    );
  }

  private failInFlight(reason: string): void {
    const error = toWireError(new WebqError('OperationError', reason));
    for (const id of this.inFlight) this.receive({ type: 'error', id, error });
    this.inFlight.clear();
  }

  private async connected(): Promise<chrome.runtime.Port> {
    if (this.port) return this.port;
    const arrived = new Promise<chrome.runtime.Port>((resolve, reject) => {
      this.waiters.push(resolve);
      setTimeout(() => reject(new WebqError('OperationError', 'the webq engine host did not start in time')), CONNECT_TIMEOUT_MS);
    });
    await this.ensureDocument();
    return arrived;
  }

  private async ensureDocument(): Promise<void> {
    const url = chrome.runtime.getURL(OFFSCREEN_PATH);
    const existing = await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT' as chrome.runtime.ContextType], documentUrls: [url] });
    if (existing.length > 0) return; // alive: it reconnects on its own
    this.creating ??= chrome.offscreen
      .createDocument({
        url: OFFSCREEN_PATH,
        reasons: ['WORKERS' as chrome.offscreen.Reason],
        justification: 'webq runs ML models with WebGPU, WebNN and WebAssembly for web pages',
      })
      .finally(() => { this.creating = null; });
    await this.creating;
  }
}
