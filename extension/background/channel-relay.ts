/**
 * Chrome's service worker hands a bridge's MessageChannel on to the engine host (shared/channel-port.ts): the channel
 * frame (content/channel-frame.ts) can post to this worker, and this worker can post to the offscreen document, but
 * neither the frame nor the content script can reach the document themselves. Only the frame page may hand one over;
 * a channel with no engine host to take it is closed, and its bridge keeps its runtime port.
 */
import { CHANNEL_FRAME_PATH } from '../shared/ports';
import { handoffIn } from '../shared/channel-port';

/** The parts of the worker's scope this uses (the project's lib is DOM, not WebWorker). */
interface HandoffEvent {
  readonly data: unknown;
  readonly ports: readonly MessagePort[];
  readonly source: { url?: string } | null;
  waitUntil(work: Promise<unknown>): void;
}
interface WindowClient {
  url: string;
  postMessage(message: unknown, transfer: Transferable[]): void;
}
interface WorkerScope {
  addEventListener(type: 'message', listener: (event: HandoffEvent) => void): void;
  clients: { matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClient[]> };
}

export function relayChannels(documentPath: string): void {
  const frameUrl = chrome.runtime.getURL(CHANNEL_FRAME_PATH);
  const documentUrl = chrome.runtime.getURL(documentPath);
  const scope = self as unknown as WorkerScope;
  scope.addEventListener('message', (event) => {
    const got = event.source?.url === frameUrl ? handoffIn(event) : null;
    if (!got) return;
    const { handoff, port } = got;
    // `globalThis.webqChannelRelay = false` leaves new direct ports on their runtime port: the bench's baseline.
    if ((globalThis as { webqChannelRelay?: boolean }).webqChannelRelay === false) return port.close();
    event.waitUntil(
      scope.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((clients) => {
        const host = clients.find((client) => client.url === documentUrl);
        if (host) host.postMessage(handoff, [port]);
        else port.close();
      }),
    );
  });
}
