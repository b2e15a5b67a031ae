/**
 * Chrome: the engine host is an offscreen document. It is created on demand, race-free (one shared creation
 * promise, checked against runtime.getContexts), and connects back with a port; the port's traffic — requests,
 * progress, keep-alive pings while work is in flight — keeps this service worker awake. If the worker was
 * restarted while the document lived on, the document reconnects and requests wait for it.
 *
 * A watchdog replaces a host that stops answering while work is in flight. That is not hypothetical: a GPU device
 * lost while onnxruntime-web has WebGPU work in flight leaves ORT's wasm side spinning, and nothing in the document
 * answers again (not even capabilities()). The cost is that one inference blocking the host's thread for longer than
 * WATCHDOG_MS (possible on the wasm EP with a very large model) is treated the same way.
 */
import { toWireError, WebqError } from '../shared/errors';
import { ENGINE_PORT } from '../shared/ports';
import { isFinal, type Caller, type ClientMessage, type HostMessage } from '../shared/protocol';
import type { EngineLink } from './router';
import { listen, post, RESULT_PIECES_LIMIT } from '../shared/pieces';

const OFFSCREEN_PATH = 'extension/host/offscreen.html';
const CONNECT_TIMEOUT_MS = 20_000;
const PING_MS = 5_000;
const WATCHDOG_MS = 30_000;

export interface EngineEnvelope {
  message: ClientMessage;
  caller: Caller;
}

export class OffscreenLink implements EngineLink {
  private port: chrome.runtime.Port | null = null;
  private creating: Promise<void> | null = null;
  /** A replaced document being closed: creating the next one waits for it (Chrome allows one at a time). */
  private closing: Promise<void> | null = null;
  private waiters: ((port: chrome.runtime.Port) => void)[] = [];
  private receive: (message: HostMessage) => void = () => {};
  private inFlight = new Set<string>();
  private lastHeard = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;

  constructor() {
    chrome.runtime.onConnect.addListener((port) => {
      if (port.name !== ENGINE_PORT) return;
      if (port.sender?.url !== chrome.runtime.getURL(OFFSCREEN_PATH)) {
        port.disconnect();
        return;
      }
      this.port = port;
      listen(port, RESULT_PIECES_LIMIT, (raw) => {
        this.lastHeard = Date.now();
        const m = raw as HostMessage | { type: 'keepalive' } | { type: 'pong' };
        if (m.type === 'keepalive' || m.type === 'pong') return;
        if (isFinal(m)) this.inFlight.delete(m.id);
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
    if (message.type === 'request') {
      this.inFlight.add(message.id);
      this.startWatchdog();
    }
    this.connected().then(
      (port) => post(port, { message, caller } satisfies EngineEnvelope),
      (err) => {
        if (message.type !== 'request') return;
        this.inFlight.delete(message.id);
        this.receive({ type: 'error', id: message.id, error: toWireError(err) });
      },
    );
  }

  /** Pings the host while work is in flight; replaces it when it has said nothing for WATCHDOG_MS. */
  private startWatchdog(): void {
    if (this.watchdog) return;
    this.lastHeard = Date.now();
    this.watchdog = setInterval(() => {
      if (this.inFlight.size === 0) {
        clearInterval(this.watchdog!);
        this.watchdog = null;
        return;
      }
      if (Date.now() - this.lastHeard > WATCHDOG_MS) {
        this.restartHost(
          `the webq engine host stopped answering for ${WATCHDOG_MS / 1000} s (a lost GPU device does this); it was restarted; call again`,
        );
        return;
      }
      try {
        this.port?.postMessage({ type: 'ping' });
      } catch {
        /* disconnected: onDisconnect fails the requests */
      }
    }, PING_MS);
  }

  private restartHost(reason: string): void {
    if (this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = null;
    } // the next request starts a fresh one
    this.failInFlight(reason);
    const port = this.port;
    this.port = null;
    try {
      port?.disconnect();
    } catch {
      /* already gone */
    }
    this.closeDocument();
  }

  private closeDocument(): void {
    this.closing ??= chrome.offscreen
      .closeDocument()
      .catch(() => undefined)
      .finally(() => {
        this.closing = null;
      });
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
      setTimeout(() => {
        reject(
          new WebqError(
            'OperationError',
            'the webq engine host did not answer in time; it is being restarted; call again',
          ),
        );
        // A document that exists but never connects is stuck: close it so the next request creates a new one.
        if (!this.port) this.closeDocument();
      }, CONNECT_TIMEOUT_MS);
    });
    await this.ensureDocument();
    return arrived;
  }

  private async ensureDocument(): Promise<void> {
    if (this.closing) await this.closing;
    const url = chrome.runtime.getURL(OFFSCREEN_PATH);
    const existing = await chrome.runtime.getContexts({
      contextTypes: ['OFFSCREEN_DOCUMENT' as chrome.runtime.ContextType],
      documentUrls: [url],
    });
    if (existing.length > 0) return; // alive: it reconnects on its own
    const create = () =>
      chrome.offscreen.createDocument({
        url: OFFSCREEN_PATH,
        reasons: ['WORKERS' as chrome.offscreen.Reason],
        justification: 'webq runs ML models with WebGPU, WebNN and WebAssembly for web pages',
      });
    // Right after a stuck document was closed, Chrome may still be tearing it down and close the new one while it
    // loads ("closed before fully loading"): one retry, a moment later, gets a clean start.
    this.creating ??= create()
      .catch(() => new Promise((resolve) => setTimeout(resolve, 1000)).then(create))
      .finally(() => {
        this.creating = null;
      });
    await this.creating;
  }
}
