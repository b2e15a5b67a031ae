/**
 * A quantized weight living in GPU buffers (the MatMulNBits layout of extension/quant/types.ts), and the
 * moves between it and the CPU form: upload for weights quantized by the TypeScript quantizer or read from
 * a model, download for weights quantized on the GPU.
 */
import { align4, packedShape, type PackedShape, type QuantizedShape, type QuantizedWeight } from './layout';

export interface GpuQuantizedWeight extends QuantizedShape {
  /** uint8 [N, kBlocks, blockSize*bits/8] read as u32 words. */
  data: GPUBuffer;
  /** f32 [N, kBlocks]. */
  scales: GPUBuffer;
  /** uint8 [N, ceil(kBlocks*bits/8)] (buffer padded to 4 bytes); asymmetric only. */
  zeroPoints?: GPUBuffer;
}

export function shapeOf(w: Pick<GpuQuantizedWeight, 'bits' | 'K' | 'N' | 'blockSize'>): PackedShape {
  return packedShape(w.bits, w.K, w.N, w.blockSize);
}

// A function, not a module constant: in Node the GPU* globals are installed after this module is imported.
const storageIO = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function createStorage(device: GPUDevice, bytes: number, label?: string): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(4, align4(bytes)), usage: storageIO() });
}

/** A storage buffer holding `data` (padded with zeros to a multiple of 4 bytes). */
export function uploadBytes(device: GPUDevice, data: ArrayBufferView, label?: string): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    size: Math.max(4, align4(data.byteLength)),
    usage: storageIO(),
    mappedAtCreation: true,
  });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** Copy `bytes` bytes of a buffer back to the CPU (waits for all work submitted so far). */
export async function readBytes(device: GPUDevice, buffer: GPUBuffer, bytes = buffer.size): Promise<Uint8Array> {
  const size = align4(bytes);
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint8Array(staging.getMappedRange().slice(0, bytes));
  staging.unmap();
  staging.destroy();
  return out;
}

export async function readFloats(device: GPUDevice, buffer: GPUBuffer, count: number): Promise<Float32Array> {
  const bytes = await readBytes(device, buffer, count * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, count);
}

export function uploadQuantized(device: GPUDevice, q: QuantizedWeight): GpuQuantizedWeight {
  const s = packedShape(q.bits, q.K, q.N, q.blockSize);
  if (q.data.byteLength !== s.dataBytes)
    throw new RangeError(`data has ${q.data.byteLength} bytes, layout needs ${s.dataBytes}`);
  if (q.scales.length !== q.N * s.kBlocks)
    throw new RangeError(`scales has ${q.scales.length} values, layout needs ${q.N * s.kBlocks}`);
  if (q.scheme === 'asymmetric' && q.zeroPoints?.byteLength !== s.zpBytes) {
    throw new RangeError(`asymmetric weight needs ${s.zpBytes} zero-point bytes, got ${q.zeroPoints?.byteLength}`);
  }
  return {
    bits: q.bits,
    scheme: q.scheme,
    K: q.K,
    N: q.N,
    blockSize: q.blockSize,
    groupSize: q.groupSize,
    kBlocks: s.kBlocks,
    data: uploadBytes(device, q.data, 'webq.data'),
    scales: uploadBytes(device, q.scales, 'webq.scales'),
    zeroPoints:
      q.scheme === 'asymmetric' && q.zeroPoints ? uploadBytes(device, q.zeroPoints, 'webq.zeroPoints') : undefined,
  };
}

/**
 * Two weights over the same input side by side, [K, a.N + b.N]: the MatMulNBits layout keeps each output column's
 * codes, scales and zero points in rows of their own, so the columns of `b` follow those of `a` byte for byte. Both
 * must share bits, scheme, K and block size; a per-tensor weight (one shared scale) is refused, since two of them have
 * two scales. Returns undefined when they do not fit together.
 */
export function concatColumns(a: QuantizedWeight, b: QuantizedWeight): QuantizedWeight | undefined {
  if (a.bits !== b.bits || a.scheme !== b.scheme || a.K !== b.K || a.blockSize !== b.blockSize) return undefined;
  if (a.groupSize !== b.groupSize || a.groupSize === -1) return undefined;
  if ((a.zeroPoints === undefined) !== (b.zeroPoints === undefined)) return undefined;
  const join = <T extends Uint8Array | Float32Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return {
    ...a,
    N: a.N + b.N,
    data: join(a.data, b.data, (n) => new Uint8Array(n)),
    scales: join(a.scales, b.scales, (n) => new Float32Array(n)),
    ...(a.zeroPoints && b.zeroPoints ? { zeroPoints: join(a.zeroPoints, b.zeroPoints, (n) => new Uint8Array(n)) } : {}),
  };
}

/**
 * Columns [from, from + count) of a weight, [K, count]: the inverse of `concatColumns`, views of `q`'s arrays (no
 * copy), since each output column's codes, scales and zero points are rows of their own.
 */
export function sliceColumns(q: QuantizedWeight, from: number, count: number): QuantizedWeight {
  if (!(Number.isInteger(from) && Number.isInteger(count) && from >= 0 && count >= 1 && from + count <= q.N))
    throw new RangeError(`columns ${from}..${from + count} are not inside the weight's ${q.N}`);
  const s = packedShape(q.bits, q.K, q.N, q.blockSize);
  const rows = <T extends Uint8Array | Float32Array>(x: T, perColumn: number): T =>
    x.subarray(from * perColumn, (from + count) * perColumn) as T;
  return {
    ...q,
    N: count,
    data: rows(q.data, s.wordsPerColumn * 4),
    scales: rows(q.scales, s.kBlocks),
    ...(q.zeroPoints ? { zeroPoints: rows(q.zeroPoints, s.zpRowBytes) } : {}),
  };
}

export async function downloadQuantized(device: GPUDevice, w: GpuQuantizedWeight): Promise<QuantizedWeight> {
  const s = shapeOf(w);
  const scaleBytes = await readBytes(device, w.scales, w.N * s.kBlocks * 4);
  return {
    bits: w.bits,
    scheme: w.scheme,
    K: w.K,
    N: w.N,
    blockSize: w.blockSize,
    groupSize: w.groupSize,
    kBlocks: s.kBlocks,
    data: await readBytes(device, w.data, s.dataBytes),
    scales: new Float32Array(scaleBytes.buffer, scaleBytes.byteOffset, w.N * s.kBlocks),
    zeroPoints: w.zeroPoints ? await readBytes(device, w.zeroPoints, s.zpBytes) : undefined,
  };
}

export function destroyQuantized(w: GpuQuantizedWeight): void {
  w.data.destroy();
  w.scales.destroy();
  w.zeroPoints?.destroy();
}

/** The buffers of a quantized matmul's bindings 1…6 after its uniforms `u` (wgsl.ts `matmulBindings`). */
export function matmulBuffers(
  u: GPUBuffer,
  a: GPUBuffer,
  w: GpuQuantizedWeight,
  y: GPUBuffer,
  bias: GPUBuffer | undefined,
): GPUBuffer[] {
  return [u, a, w.data, w.scales, y, ...(w.zeroPoints ? [w.zeroPoints] : []), ...(bias ? [bias] : [])];
}
