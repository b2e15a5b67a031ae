/**
 * The in-page engine: webq's engine host (extension/host/engine.ts) running in the author's page, behind the same
 * client as the extension's `window.webq`. The client package loads this module with a dynamic import, only when
 * the extension is absent, so its weight (onnxruntime-web, the quantizer, the task pipelines) is a chunk of its own.
 *
 * The transport is the one hop there is: every message is structured-cloned and validated as it would be between
 * the page and the extension, so the page gets the extension's errors and copies, not shared objects. There is no
 * consent step (the page runs models for itself, in its own origin), the cache is the page origin's IndexedDB, and
 * calibration (an extension-page feature) is absent.
 */
import { Engine } from '../../../extension/host/engine';
import { browserInfo } from '../../../extension/host/browser-info';
import { setOrtWasmUrl } from '../../../extension/host/ort';
import { checkModelHost, DEFAULT_MODEL_HOST, setModelHost } from '../../../extension/models/model-host';
import { createWebq, type Webq } from '../../../extension/page/client';
import type { Link } from '../../../extension/shared/link';
import { dataError, toWireError } from '../../../extension/shared/errors';
import { validateClientMessage, type HostMessage } from '../../../extension/shared/protocol';
import type { CheckedOptions } from './options';

/** Starts an engine in this page and returns `window.webq`'s API over it. */
export async function startPageHost(options: CheckedOptions, version: string): Promise<Webq> {
  const host = options.modelHost ?? DEFAULT_MODEL_HOST;
  const checked = checkModelHost(host);
  if (!checked.ok) throw dataError(`client option modelHost: ${checked.reason}`);
  // The engine reads the model host from its settings store: in the page, that is the page origin's database.
  await setModelHost(checked.url);
  if (options.wasmUrl) setOrtWasmUrl(options.wasmUrl);

  const engine = new Engine({ browser: browserInfo() });
  const caller = { origin: location.origin };
  let receiver: ((m: HostMessage) => void) | null = null;
  const deliver = (m: HostMessage) => receiver?.(structuredClone(m));
  const transport: Link = {
    send(message) {
      queueMicrotask(() => {
        let valid;
        try {
          valid = validateClientMessage(structuredClone(message));
        } catch (err) {
          deliver({ type: 'error', id: message.id, error: toWireError(err) });
          return;
        }
        engine.receive(valid, caller, deliver);
      });
    },
    listen(receive) {
      receiver = receive;
    },
  };
  return createWebq(transport, version);
}
