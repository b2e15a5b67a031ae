/**
 * The engine host inside a plain page, for browsers that cannot load the extension (@sparticuz/chromium, where
 * WebNN works). `window.webq` is the same client pages get from the extension; its transport hands each message
 * to the in-page Engine instead of the bridge. Messages are structured-cloned and validated as on a real hop.
 *
 * `?log=verbose` turns on ORT's verbose session log (node placements); `?trace=webnn` counts the WebNN graph
 * builder calls and dispatches, in `window.webqHarness.webnn`. `window.webqHarness.liveDeviceTensors()` counts the
 * GPU tensors ORT made for the engine and the engine has not disposed yet (a decoder's KV cache on WebGPU).
 */
import { Engine } from '../../extension/host/engine';
import { browserInfo } from '../../extension/host/browser-info';
import { gpuOutputBytesRead, liveDeviceTensors, setOrtDiagnostics } from '../../extension/host/ort';
import { createWebq } from '../../extension/page/client';
import type { Link } from '../../extension/shared/link';
import { toWireError } from '../../extension/shared/errors';
import { validateClientMessage, type HostMessage } from '../../extension/shared/protocol';

declare const __WEBQ_VERSION__: string;

const params = new URLSearchParams(location.search);
if (params.get('log') === 'verbose') setOrtDiagnostics({ logSeverityLevel: 0, logVerbosityLevel: 0 });

/** WebNN calls seen: builder operations by name, graphs built, dispatches. */
const webnn = { ops: {} as Record<string, number>, builds: 0, dispatches: 0 };
if (params.get('trace') === 'webnn') traceWebnn();

function traceWebnn(): void {
  const g = globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;
  const wrap = (proto: Record<string, unknown>, name: string, count: () => void) => {
    const original = proto[name];
    if (typeof original !== 'function') return;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      count();
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  };
  const builder = g.MLGraphBuilder?.prototype;
  if (builder) {
    for (const name of Object.getOwnPropertyNames(builder)) {
      if (name === 'constructor' || Object.getOwnPropertyDescriptor(builder, name)?.get) continue;
      if (name === 'build')
        wrap(builder, name, () => {
          webnn.builds++;
        });
      else
        wrap(builder, name, () => {
          webnn.ops[name] = (webnn.ops[name] ?? 0) + 1;
        });
    }
  }
  const context = g.MLContext?.prototype;
  if (context)
    wrap(context, 'dispatch', () => {
      webnn.dispatches++;
    });
}

const engine = new Engine({ browser: browserInfo() });
const origin = location.origin;

const inPageLink: Link = {
  send(message) {
    queueMicrotask(() => {
      let checked;
      try {
        checked = validateClientMessage(structuredClone(message));
      } catch (err) {
        deliver({ type: 'error', id: message.id, error: toWireError(err) });
        return;
      }
      engine.receive(checked, { origin }, (m) => deliver(structuredClone(m)));
    });
  },
  listen(receive) {
    receiver = receive;
  },
};
let receiver: ((m: HostMessage) => void) | null = null;
const deliver = (m: HostMessage) => receiver?.(m);

Object.defineProperty(window, 'webq', { value: createWebq(inPageLink, __WEBQ_VERSION__), enumerable: false });
Object.defineProperty(window, 'webqHarness', {
  value: Object.freeze({ webnn, liveDeviceTensors, gpuOutputBytesRead }),
  enumerable: false,
});
document.title = 'webq engine harness (ready)';
