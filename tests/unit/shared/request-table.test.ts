/** RequestTable (shared/request-table.ts): ids of the hop's own, per-origin limits, aborts and closed ports. */
import { describe, expect, it } from 'vitest';
import { WebqError } from '../../../extension/shared/errors';
import type { RequestMessage } from '../../../extension/shared/protocol';
import { RequestTable } from '../../../extension/shared/request-table';

const limits = { requestsInFlightPerOrigin: 3, bytesInFlightPerOrigin: 100 };
const caps = (id: string): RequestMessage => ({ type: 'request', id, method: 'capabilities', params: {} });
const run = (id: string, floats: number): RequestMessage =>
  ({
    type: 'request',
    id,
    method: 'run',
    params: {
      model: 'https://a.test/m.onnx',
      input: { kind: 'tensors', tensors: { x: { type: 'float32', dims: [floats], data: new Float32Array(floats) } } },
      options: {},
    },
  }) as unknown as RequestMessage;

describe('RequestTable', () => {
  it('renames ids, maps replies back to their port and client id, and forgets a request at its final reply', () => {
    const table = new RequestTable<string>('r', () => limits);
    const a = table.port('tab A', 'https://a.test');
    const b = table.port('tab B', 'https://b.test');
    const ia = a.accept(caps('same'));
    const ib = b.accept(caps('same'));
    expect([ia, ib]).toEqual(['r1', 'r2']);
    expect(table.reply({ type: 'result', id: 'r1', result: null })).toBeNull(); // not passed on yet
    a.route('r1');
    b.route('r2');
    expect(table.reply({ type: 'progress', id: 'r2', progress: { phase: 'download', loaded: 1, total: 2 } })).toEqual({
      port: 'tab B',
      message: { type: 'progress', id: 'same', progress: { phase: 'download', loaded: 1, total: 2 } },
    });
    expect(table.reply({ type: 'result', id: 'r1', result: 7 })).toEqual({
      port: 'tab A',
      message: { type: 'result', id: 'same', result: 7 },
    });
    expect(table.reply({ type: 'result', id: 'r1', result: 7 })).toBeNull(); // forgotten
  });

  it('refuses a duplicate id in flight on the same port, not on another', () => {
    const table = new RequestTable<string>('r', () => limits);
    const a = table.port('A', 'https://a.test');
    a.accept(caps('x'));
    const again = a.accept(caps('x'));
    expect(again).toBeInstanceOf(WebqError);
    expect((again as WebqError).name).toBe('DataError');
    expect(table.port('B', 'https://a.test').accept(caps('x'))).toBe('r2');
  });

  it('counts requests and bytes per origin across ports; an abort, a final reply or a closed port frees them', () => {
    const table = new RequestTable<string>('d', () => limits);
    const a = table.port('A', 'https://a.test');
    const a2 = table.port('A2', 'https://a.test');
    const other = table.port('O', 'https://o.test');
    expect(a.accept(run('1', 10))).toBe('d1'); // 40 bytes
    expect(a2.accept(run('2', 10))).toBe('d2'); // 80
    const over = a.accept(run('3', 10)) as WebqError; // 120 > 100
    expect(over.name).toBe('QuotaExceededError');
    expect(over.message).toMatch(/already has 80 bytes of webq requests in flight; this one adds 40, at most 100/);
    expect(a.accept(caps('4'))).toBe('d3'); // 3 requests
    expect((a.accept(caps('5')) as WebqError).message).toMatch(/already has 3 webq requests in flight; at most 3/);
    expect(other.accept(caps('6'))).toBe('d4'); // another origin is not affected
    expect(a.abort('4')).toBe('d3');
    expect(a.abort('4')).toBeUndefined();
    expect(a.accept(caps('7'))).toBe('d5');
    a2.route('d2');
    expect(a2.close()).toEqual(['d2']); // passed on: the engine is told to abort it
    expect(a.accept(run('8', 10))).toBe('d6');
    a.route('d1');
    table.reply({ type: 'error', id: 'd1', error: { name: 'AbortError', message: 'x' } });
    expect(a.accept(caps('9'))).toBe('d7');
  });

  it('holds slots for requests another hop renamed, refusing over the limits like its own', () => {
    const table = new RequestTable<string>('d', () => limits);
    const releases = [0, 1, 2].map(() => table.hold('https://a.test', 0));
    expect(releases.every((r) => typeof r === 'function')).toBe(true);
    expect((table.port('A', 'https://a.test').accept(caps('1')) as WebqError).name).toBe('QuotaExceededError');
    expect((table.hold('https://a.test', 0) as WebqError).name).toBe('QuotaExceededError');
    (releases[0] as () => void)();
    (releases[0] as () => void)(); // twice frees one slot only
    expect(table.port('A', 'https://a.test').accept(caps('1'))).toBe('d1');
    expect((table.hold('https://a.test', 0) as WebqError).name).toBe('QuotaExceededError');
  });

  it('reads the limits at each acceptance', () => {
    const mutable = { ...limits };
    const table = new RequestTable<string>('r', () => mutable);
    const a = table.port('A', 'https://a.test');
    mutable.requestsInFlightPerOrigin = 1;
    a.accept(caps('1'));
    expect((a.accept(caps('2')) as WebqError).name).toBe('QuotaExceededError');
  });
});
