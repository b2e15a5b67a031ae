import { describe, expect, it, vi } from 'vitest';
import {
  BLOB_FROM_BYTES,
  fromWire,
  listen,
  postMoving,
  toWire,
  transferList,
  withOwnArrays,
} from '../../../extension/shared/port-wire';

/** A port whose messages the test delivers by hand, as structured clone leaves a Blob: the same object. */
function fakePort() {
  let receive: (message: unknown) => void = () => undefined;
  return {
    postMessage: vi.fn(),
    onMessage: { addListener: (l: (message: unknown) => void) => (receive = l) },
    deliver: (message: unknown) => receive(message),
  };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('messages on a port', () => {
  it('passes messages with fewer array bytes than the threshold through untouched', async () => {
    const m = { type: 'request', id: 'a', data: new Float32Array(BLOB_FROM_BYTES / 4 - 1) };
    expect(toWire(m)).toBe(m);
    expect(await fromWire(m, 0)).toBe(m);
  });

  it('sends 64 MiB of arrays of several kinds in one Blob and reads them back bit-exact, each in its own buffer', async () => {
    const big = new Float32Array(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 997) big[i] = i * 0.5;
    big[1] = NaN;
    big[2] = -0;
    const ints = new BigInt64Array([1n, -2n, 9223372036854775807n]);
    const offset = new Uint8Array(new Uint8Array([9, 1, 2, 3, 9]).buffer, 1, 3); // a view into a larger buffer
    const message = {
      type: 'request',
      id: 'r1',
      params: {
        input: { tensors: { a: { data: big, dims: [big.length] }, b: { data: ints } } },
        list: [offset, 'x', 3],
      },
    };
    const wire = toWire(message) as { type: string; blob: Blob; skeleton: unknown };
    expect(wire.type).toBe('webq-blob');
    expect(wire.blob.size).toBe(big.byteLength + ints.byteLength + 3);
    expect(JSON.stringify(wire.skeleton).length).toBeLessThan(300); // no array bytes left in the message itself
    const m = (await fromWire(wire, 65 * 1024 * 1024)) as typeof message;
    const a = m.params.input.tensors.a.data;
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(big.length);
    for (let i = 0; i < big.length; i += 997) expect(a[i]).toBe(i * 0.5);
    expect(Object.is(a[1], NaN) && Object.is(a[2], -0)).toBe(true);
    expect(m.params.input.tensors.b.data).toEqual(ints);
    expect(m.params.list).toEqual([new Uint8Array([1, 2, 3]), 'x', 3]);
    expect(m.params.input.tensors.a.dims).toEqual([big.length]);
    const buffers = [a.buffer, m.params.input.tensors.b.data.buffer, m.params.list[0] as Uint8Array].map((v) =>
      v instanceof Uint8Array ? v.buffer : v,
    );
    expect(new Set(buffers).size).toBe(3);
  });

  it('rejects a Blob message above the limit, with an unknown array kind, or whose Blob disagrees', async () => {
    const wire = toWire({ data: new Uint8Array(BLOB_FROM_BYTES * 2) }) as Record<string, unknown>;
    await expect(fromWire(wire, BLOB_FROM_BYTES)).rejects.toThrow(/above the limit/);
    await expect(fromWire({ ...wire, arrays: [{ kind: 'Function', bytes: 4 }] }, 1e9)).rejects.toThrow(/cannot read/);
    await expect(fromWire({ ...wire, blob: new Blob([new Uint8Array(3)]) }, 1e9)).rejects.toThrow(/in a Blob of 3/);
    await expect(fromWire({ type: 'webq-blob', skeleton: {} }, 1e9)).rejects.toThrow(/without arrays/);
  });

  it('listen delivers in arrival order, small messages at once when nothing is being read', async () => {
    const port = fakePort();
    const got: unknown[] = [];
    listen(port, 1e9, (m) => got.push(m));
    port.deliver({ id: 1 });
    expect(got).toEqual([{ id: 1 }]); // synchronously
    port.deliver(toWire({ id: 2, data: new Float32Array(BLOB_FROM_BYTES) }));
    port.deliver({ id: 3 });
    expect(got).toHaveLength(1); // 3 waits for 2's Blob
    await flush();
    expect(got.map((m) => (m as { id: number }).id)).toEqual([1, 2, 3]);
    expect((got[1] as { data: Float32Array }).data.length).toBe(BLOB_FROM_BYTES);
    port.deliver({ id: 4 });
    expect(got).toHaveLength(4); // at once again
  });

  it('listen drops a malformed Blob message and survives a listener that throws', async () => {
    const port = fakePort();
    const got: number[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    listen(port, BLOB_FROM_BYTES * 2, (m) => {
      const id = (m as { id: number }).id;
      if (id === 2) throw new Error('listener bug');
      got.push(id);
    });
    port.deliver(toWire({ id: 1, data: new Float32Array(BLOB_FROM_BYTES) })); // 4× the threshold: above the limit
    port.deliver({ id: 2 });
    port.deliver({ id: 3 });
    await flush();
    expect(got).toEqual([3]);
    expect(warn).toHaveBeenCalledWith('webq: dropped a port message:', expect.any(Error));
    expect(error).toHaveBeenCalledWith('webq: a port message listener threw', expect.any(Error));
    warn.mockRestore();
    error.mockRestore();
  });
});

describe('moving arrays on a postMessage', () => {
  it("lists each buffer once, and copies the caller's arrays so that moving them leaves the caller's whole", () => {
    const buffer = new ArrayBuffer(64);
    const a = new Float32Array(buffer, 0, 8);
    const b = new Float32Array(buffer, 32, 8);
    const c = new BigInt64Array([1n, 2n]);
    const message = { type: 'request', params: { input: { tensors: { a: { data: a }, b: { data: b } } }, list: [c] } };
    expect(transferList(message)).toEqual([buffer, c.buffer]);
    expect(transferList({ shared: new Int32Array(new SharedArrayBuffer(8)) })).toEqual([]);

    a.fill(7);
    const own = withOwnArrays(message);
    const { port1, port2 } = new MessageChannel();
    postMoving((m, transfer) => port1.postMessage(m, transfer), own);
    port1.close();
    port2.close();
    expect(own.params.input.tensors.a.data.byteLength).toBe(0); // moved
    expect(own.params.list[0]!.byteLength).toBe(0);
    expect([...a]).toEqual(Array(8).fill(7)); // the caller's own arrays are untouched
    expect(c.byteLength).toBe(16);
  });

  it('sends cloned when a buffer cannot move, and lets other errors through', () => {
    const sent: unknown[][] = [];
    const refusing = (m: unknown, transfer: Transferable[]) => {
      if (transfer.length > 0) throw new DOMException('cannot transfer', 'DataCloneError');
      sent.push([m]);
    };
    postMoving(refusing, { data: new Uint8Array(4) });
    expect(sent).toHaveLength(1);
    expect(() =>
      postMoving(
        () => {
          throw new TypeError('closed');
        },
        { data: new Uint8Array(4) },
      ),
    ).toThrow('closed');
  });
});
