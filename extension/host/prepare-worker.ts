/**
 * Worker side of model preparation: quantizing a model's weights takes seconds and must not block the host. The
 * worker opens its own WebGPU device for webq's quantize kernels (the host's device belongs to its thread); where
 * workers have no WebGPU and the page asked for the kernels (`workgroupSize`), it says so and the host prepares the
 * model on its own thread instead (prepare-off-thread.ts).
 */
import { prepareModelWith } from './prepare';
import { toWireError } from '../shared/errors';
import { adapterKey } from './calibrate';
import { readSetting, writeSetting } from '../storage/settings';
import { openQuantizerGpu, type QuantizerGpu } from './gpu-quantize';
import type { PrepareReply, PrepareRequest } from './prepare-off-thread';

const post = (reply: PrepareReply, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(reply, transfer);

class NoGpuInWorker extends Error {}

self.onmessage = async (event: MessageEvent<PrepareRequest>) => {
  const { source, policy, workgroupSize, external, purpose } = event.data;
  let opened: QuantizerGpu | undefined;
  try {
    const prepared = await prepareModelWith(
      source,
      policy,
      {
        workgroupSize,
        settings: { read: readSetting, write: writeSetting },
        progress: (done, total) => post({ progress: [done, total] }),
        gpu: async () => {
          const gpu = await openQuantizerGpu((info) => adapterKey({ info }));
          if ('unavailable' in gpu) {
            if (workgroupSize) throw new NoGpuInWorker(gpu.unavailable);
            return { unavailable: `WebGPU is not available in the preparation worker: ${gpu.unavailable}` };
          }
          opened = gpu;
          return gpu;
        },
      },
      external,
      purpose,
    );
    const transfer = prepared.bytes.buffer === source.buffer ? [] : [prepared.bytes.buffer as ArrayBuffer];
    // External data goes back moved, like it came (a graph run as stored hands it to its session).
    for (const f of prepared.externalData ?? []) transfer.push(f.data.buffer as ArrayBuffer);
    post({ ok: prepared }, transfer);
  } catch (err) {
    post(err instanceof NoGpuInWorker ? { noGpu: err.message } : { error: toWireError(err) });
  } finally {
    opened?.device.destroy();
  }
};
