/**
 * Chrome: the engine host is an offscreen document. It is created on demand, race-free (one shared creation
 * promise, checked against runtime.getContexts), and connects back with a port; the port's traffic — requests,
 * progress, keep-alive pings while work is in flight — keeps this service worker awake. If the worker was
 * restarted while the document lived on, the document reconnects and requests wait for it. The port itself is a
 * PortLink (shared/link.ts): the in-flight table, failing it when the port closes, and the Blob wire (port-wire.ts)
 * live there.
 *
 * A watchdog replaces a host that stops answering while work is in flight. That is not hypothetical: a GPU device
 * lost while onnxruntime-web has WebGPU work in flight leaves ORT's wasm side spinning, and nothing in the document
 * answers again (not even capabilities()). The cost is that one inference blocking the host's thread for longer than
 * WATCHDOG_MS (possible on the wasm EP with a very large model) is treated the same way.
 */
import { WebqError } from '../shared/errors';
import { PortLink, type Link, type PortLike } from '../shared/link';
import { RESULT_BYTES_LIMIT } from '../shared/port-wire';
import { DIRECT_PORT, ENGINE_PORT } from '../shared/ports';
import type { EngineEnvelope, HostMessage } from '../shared/protocol';
import { isSignal, type BusySignal, type RevokeSignal } from '../shared/direct';

export const OFFSCREEN_PATH = 'extension/host/offscreen.html';
const CONNECT_TIMEOUT_MS = 20_000;
const PING_MS = 5_000;
const WATCHDOG_MS = 30_000;

export class OffscreenLink implements Link<EngineEnvelope, HostMessage> {
  private readonly link: PortLink<EngineEnvelope>;
  private creating: Promise<void> | null = null;
  /** A replaced document being closed: creating the next one waits for it (Chrome allows one at a time). */
  private closing: Promise<void> | null = null;
  private waiters: ((port: PortLike) => void)[] = [];
  private lastHeard = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  /** The document said it is serving pages' direct requests (shared/direct.ts), which this link does not see. */
  private hostBusy = false;
  /**
   * Bridges' direct ports: they reach this worker too (every extension context hears a content script's connect).
   * This end is kept, and closed when the document goes away: a port with a receiver left never tells its opener
   * that the document is gone, and closing one end closes it for all, so the bridge learns at once.
   */
  private readonly directPorts = new Set<chrome.runtime.Port>();

  constructor() {
    this.link = new PortLink<EngineEnvelope>({
      connect: () => this.connect(),
      receiveLimit: RESULT_BYTES_LIMIT,
      lost: 'the engine host closed while this request was running; call again',
      unreachable: 'webq could not reach its engine host',
      messageOf: (envelope) => envelope.message,
      closed: () => this.closeDirectPorts(),
      control: (raw) => {
        this.lastHeard = Date.now();
        if (isSignal<BusySignal>(raw, 'busy')) {
          this.hostBusy = raw.busy === true;
          if (this.hostBusy) this.startWatchdog();
          return true;
        }
        const type = (raw as { type?: unknown } | null)?.type;
        return type === 'keepalive' || type === 'pong';
      },
    });
    chrome.runtime.onConnect.addListener((port) => {
      if (port.name === DIRECT_PORT) {
        this.directPorts.add(port);
        port.onDisconnect.addListener(() => this.directPorts.delete(port));
        return;
      }
      if (port.name !== ENGINE_PORT) return;
      if (port.sender?.url !== chrome.runtime.getURL(OFFSCREEN_PATH)) {
        port.disconnect();
        return;
      }
      // A new port means a new worker or a new document: no grant given before holds (shared/direct.ts).
      port.postMessage({ type: 'revoke' } satisfies RevokeSignal);
      this.hostBusy = false;
      const waiters = this.waiters.splice(0);
      if (waiters.length > 0) for (const w of waiters) w(port);
      else this.link.attach(port); // the document reconnected on its own (this worker was restarted)
    });
  }

  listen(receive: (message: HostMessage) => void): void {
    this.link.listen(receive);
  }

  /** Ends every grant of the direct path: the pages' next direct requests come through the router again. */
  revoke(): void {
    this.link.signal({ type: 'revoke' } satisfies RevokeSignal);
  }

  send(envelope: EngineEnvelope): void {
    if (envelope.message.type === 'request') this.startWatchdog();
    this.link.send(envelope);
  }

  /**
   * Pings the host while work is in flight (requests on this link, or direct ones the document reported); replaces
   * it when it has said nothing for WATCHDOG_MS.
   */
  private startWatchdog(): void {
    if (this.watchdog) return;
    this.lastHeard = Date.now();
    this.watchdog = setInterval(() => {
      if (this.link.pending === 0 && !this.hostBusy) {
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
      this.link.signal({ type: 'ping' });
    }, PING_MS);
  }

  private restartHost(reason: string): void {
    this.hostBusy = false;
    if (this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = null;
    } // the next request starts a fresh one
    this.link.drop(reason);
    this.closeDirectPorts();
    this.closeDocument();
  }

  private closeDirectPorts(): void {
    for (const port of this.directPorts) port.disconnect();
    this.directPorts.clear();
  }

  private closeDocument(): void {
    this.closing ??= chrome.offscreen
      .closeDocument()
      .catch(() => undefined)
      .finally(() => {
        this.closing = null;
      });
  }

  /** The PortLink's way to open its port: make sure the document exists, then wait for it to connect. */
  private async connect(): Promise<PortLike> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arrived = new Promise<PortLike>((resolve, reject) => {
      const waiter = (port: PortLike) => {
        clearTimeout(timer);
        resolve(port);
      };
      this.waiters.push(waiter);
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new WebqError(
            'OperationError',
            'the webq engine host did not answer in time; it is being restarted; call again',
          ),
        );
        // A document that exists but never connects is stuck: close it so the next request creates a new one.
        this.closeDocument();
      }, CONNECT_TIMEOUT_MS);
    });
    try {
      await this.ensureDocument();
    } catch (err) {
      clearTimeout(timer);
      this.waiters = []; // a document that connects after all is attached as it arrives
      arrived.catch(() => undefined);
      throw err;
    }
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
