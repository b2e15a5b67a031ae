/**
 * prepareOffThread where no worker can start (Node has no Worker, as some engine hosts may not): the model is
 * prepared on the host's own thread with the host's GPU device (extension/host/gpu.ts getGpu), through the same
 * measured choice, and the `workgroupSize` option still runs webq's kernels there.
 */
import { describe, expect, it } from 'vitest';
import { create } from 'webgpu';
import './gpu'; // installs the WebGPU globals
import { prepareOffThread } from '../../extension/host/prepare-off-thread';
import { getGpu } from '../../extension/host/gpu';
import { makePolicy } from '../../extension/onnx/policy';
import { serializeModel } from '../../extension/onnx/model';
import { prepareModel } from '../../extension/host/prepare';
import { tinyTransformer } from '../unit/onnx/graphs';

describe('prepareOffThread without workers: the host thread and its GPU', () => {
  const source = serializeModel(tinyTransformer());
  const policy = makePolicy({ bits: 4, groupSize: 16 });

  it("with the host device: workgroupSize quantizes on it; the bytes are the CPU rewrite's", async () => {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });
    try {
      const host = await getGpu();
      expect(host, (await import('../../extension/host/gpu')).gpuUnavailableReason).not.toBeNull();
      const prepared = await prepareOffThread(source, policy, new AbortController().signal, {
        workgroupSize: [32, 1, 1],
      });
      expect(prepared.notes.slice(0, 2).join('\n')).toMatch(
        /^quantizer: GPU kernels with workgroupSize \[32, 1, 1\].*\nquantizer: 6 of 6 weights .* quantized on the GPU/,
      );
      expect(prepared.bytes).toEqual(prepareModel(source, policy).bytes);
      const measured = await prepareOffThread(source, policy, new AbortController().signal);
      expect(measured.notes[0]).toMatch(/^quantizer: (GPU kernels|CPU) \(.*measured/);
    } finally {
      const lost = (await getGpu())?.device;
      lost?.destroy();
      await lost?.lost; // gpu.ts forgets a lost device: the next getGpu() looks at navigator again
      Object.defineProperty(globalThis, 'navigator', { value: undefined, configurable: true });
    }
  });

  // (After the GPU case: gpu.ts remembers a missing navigator.gpu for good, as it never appears later in a browser.)
  it('no WebGPU on the host either: the CPU, said in the notes; workgroupSize is NotSupportedError', async () => {
    expect(typeof (globalThis as { Worker?: unknown }).Worker).toBe('undefined');
    const prepared = await prepareOffThread(source, policy, new AbortController().signal);
    expect(prepared.notes[0]).toMatch(/^quantizer: CPU \(navigator\.gpu is absent/);
    expect(prepared.bytes).toEqual(prepareModel(source, policy).bytes);
    const err = await prepareOffThread(source, policy, new AbortController().signal, {
      workgroupSize: [64, 1, 1],
    }).catch((e) => e);
    expect(err.name).toBe('NotSupportedError');
    expect(err.message).toMatch(/workgroupSize/);
  });
});
