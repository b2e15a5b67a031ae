/** Worker side of model preparation: quantizing a model's weights takes seconds and must not block the host. */
import { prepareModel } from './prepare';
import { toWireError } from '../shared/errors';
import type { PrecisionPolicy } from '../onnx';

self.onmessage = (event: MessageEvent<{ source: Uint8Array; policy: PrecisionPolicy | null }>) => {
  try {
    const prepared = prepareModel(event.data.source, event.data.policy);
    const transfer = prepared.bytes.buffer === event.data.source.buffer ? [] : [prepared.bytes.buffer as ArrayBuffer];
    (self as unknown as Worker).postMessage({ ok: prepared }, transfer);
  } catch (err) {
    (self as unknown as Worker).postMessage({ error: toWireError(err) });
  }
};
