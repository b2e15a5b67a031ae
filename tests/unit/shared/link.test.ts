/**
 * PortLink (shared/link.ts), the one link over a runtime.Port, against an in-memory port pair that behaves as
 * runtime ports do: messages arrive asynchronously and in order, and closing one end tells only the other end.
 */
import { describe, expect, it, vi } from 'vitest';
import { isKeepAwake, KEEP_AWAKE, PortLink, type PortLike } from '../../../extension/shared/link';
import { portPair, type End } from '../../support/port-pair';
import { listen, post } from '../../../extension/shared/port-wire';
import { replyIdOf, type HostMessage } from '../../../extension/shared/protocol';

const tick = () => new Promise((r) => setTimeout(r, 0));
const request = (id: string) => ({ type: 'request' as const, id, method: 'capabilities' as const, params: {} });

function setup(connect?: () => PortLike | Promise<PortLike>, keepAwakeMs?: number) {
  const ports: End[] = [];
  const hosts: End[] = [];
  let connects = 0;
  const link = new PortLink({
    connect:
      connect ??
      (() => {
        connects++;
        const [client, host] = portPair();
        ports.push(client);
        hosts.push(host);
        return client;
      }),
    receiveLimit: 1024 * 1024 * 1024,
    lost: 'the other end went away',
    unreachable: 'could not reach the other end',
    keepAwakeMs,
  });
  const got: HostMessage[] = [];
  link.listen((m) => got.push(m));
  return { link, got, ports, hosts, connects: () => connects };
}

describe('PortLink', () => {
  it('opens its port on the first send, not before, and reuses it', async () => {
    const { link, ports, hosts, connects } = setup();
    expect(connects()).toBe(0);
    link.send(request('a'));
    link.send(request('b'));
    expect(connects()).toBe(1);
    const seen: unknown[] = [];
    listen(hosts[0]!, 1e9, (m) => seen.push(m));
    await tick();
    expect(seen).toEqual([request('a'), request('b')]);
    expect(ports).toHaveLength(1);
  });

  it('delivers replies, forgets a request at its result, and fails the rest when the port closes', async () => {
    const { link, got, hosts } = setup();
    link.send(request('a'));
    link.send(request('b'));
    expect(link.pending).toBe(2);
    hosts[0]!.postMessage({ type: 'progress', id: 'a', progress: { phase: 'download', loaded: 1, total: 2 } });
    hosts[0]!.postMessage({ type: 'result', id: 'a', result: 7 });
    await tick();
    expect(link.pending).toBe(1);
    hosts[0]!.disconnect();
    expect(got.map((m) => [m.type, m.id])).toEqual([
      ['progress', 'a'],
      ['result', 'a'],
      ['error', 'b'],
    ]);
    expect(got[2]).toMatchObject({ error: { name: 'OperationError', message: 'the other end went away' } });
    expect(link.pending).toBe(0);
  });

  it('posts KEEP_AWAKE every keepAwakeMs while a request is in flight, and stops when none is', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { link, hosts } = setup(undefined, 5000);
      link.send(request('a'));
      const seen: unknown[] = [];
      listen(hosts[0]!, 1e9, (m) => seen.push(m));
      vi.advanceTimersByTime(4999);
      await tick();
      expect(seen).toEqual([request('a')]);
      vi.advanceTimersByTime(5002);
      await tick();
      expect(seen).toEqual([request('a'), KEEP_AWAKE, KEEP_AWAKE]);
      hosts[0]!.postMessage({ type: 'result', id: 'a', result: 1 });
      await tick();
      vi.advanceTimersByTime(20_000);
      await tick();
      expect(seen).toHaveLength(3);
      expect(vi.getTimerCount()).toBe(0); // the interval ended with the last request
    } finally {
      vi.useRealTimers();
    }
  });

  it('also posts KEEP_AWAKE with a request when the last one is keepAwakeMs old, so short requests keep it awake', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const { link, hosts } = setup(undefined, 5000);
      const seen: unknown[] = [];
      link.send(request('open')); // opens the port: no ping needed for that
      listen(hosts[0]!, 1e9, (m) => seen.push(m));
      hosts[0]!.postMessage({ type: 'result', id: 'open', result: 1 });
      await tick();
      vi.advanceTimersByTime(6000); // the interval finds nothing in flight and stops
      // Requests of 3.5 s, 2.5 s apart: the interval each one starts ticks after it ended, and stops again.
      for (const id of ['a', 'b', 'c']) {
        link.send(request(id));
        vi.advanceTimersByTime(3500);
        hosts[0]!.postMessage({ type: 'result', id, result: 1 });
        await tick();
        vi.advanceTimersByTime(2500);
      }
      const pings = seen.flatMap((m, i) => (isKeepAwake(m) ? [i] : []));
      // One ping with each request (6 s apart), none from the interval, so never more than 6 s without one.
      expect(
        seen.filter((m) => (m as { type?: string }).type === 'request').map((m) => (m as { id: string }).id),
      ).toEqual(['open', 'a', 'b', 'c']);
      expect(pings).toHaveLength(3);
      for (const i of pings) expect((seen[i + 1] as { type?: string }).type).toBe('request');
      // Within keepAwakeMs of a ping, a new request adds none.
      link.send(request('d'));
      link.send(request('e'));
      await tick();
      expect(seen.filter(isKeepAwake)).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('opens a new port for the next request after the old one closed', async () => {
    const { link, hosts, connects } = setup();
    link.send(request('a'));
    hosts[0]!.disconnect();
    link.send(request('b'));
    expect(connects()).toBe(2);
    const seen: unknown[] = [];
    listen(hosts[1]!, 1e9, (m) => seen.push(m));
    await tick();
    expect(seen).toEqual([request('b')]);
  });

  it('refuses a second request under an id still in flight, and an abort frees the id', () => {
    const { link, got, hosts } = setup();
    link.send(request('a'));
    link.send(request('a'));
    expect(got).toEqual([
      { type: 'error', id: 'a', error: { name: 'DataError', message: 'request id a is already in flight' } },
    ]);
    link.send({ type: 'abort', id: 'a' });
    expect(link.pending).toBe(0);
    hosts[0]!.disconnect();
    expect(got).toHaveLength(1); // nothing left to fail
  });

  it('fails what waited for a port that never came, with the reason', async () => {
    const { link, got } = setup(() => Promise.reject(new Error('no document')));
    link.send(request('a'));
    link.send({ type: 'abort', id: 'x' });
    await tick();
    expect(got).toEqual([
      {
        type: 'error',
        id: 'a',
        error: { name: 'OperationError', message: 'could not reach the other end: no document' },
      },
    ]);
    expect(link.pending).toBe(0);
  });

  it('sends and receives large messages with their arrays in a Blob, in order with the small ones', async () => {
    const { link, got, ports, hosts } = setup();
    const big = new Float32Array(13 * 1024 * 1024); // 52 MiB
    big[big.length - 1] = 3.5;
    link.send(request('first')); // opens the port
    const seen: unknown[] = [];
    listen(hosts[0]!, 1e9, (m) => seen.push(m));
    link.send({ ...request('a'), params: { big } } as never);
    link.send({ type: 'abort', id: 'a' });
    await tick();
    const posted = ports[0]!.posted as { type: string; blob?: Blob }[];
    expect(posted[1]!.type).toBe('webq-blob');
    expect(posted[1]!.blob!.size).toBe(big.byteLength);
    await new Promise((r) => setTimeout(r, 50));
    const arrived = seen[1] as { id: string; params: { big: Float32Array } };
    expect(arrived.id).toBe('a');
    expect(arrived.params.big[big.length - 1]).toBe(3.5);
    expect(seen[2]).toEqual({ type: 'abort', id: 'a' }); // after the Blob was read, though it came in at once
    link.send({ ...request('b'), params: {} } as never);
    post(hosts[0]!, { type: 'result', id: 'first', result: 1 });
    post(hosts[0]!, { type: 'result', id: 'b', result: { big } });
    await new Promise((r) => setTimeout(r, 50));
    expect((got[1] as { result: { big: Float32Array } }).result.big[big.length - 1]).toBe(3.5);
    expect(link.pending).toBe(0);
  });
});

describe('replyIdOf', () => {
  it('gives the id of a malformed message only when the id itself is well-formed', () => {
    expect(replyIdOf({ id: 'ok_1-2' })).toBe('ok_1-2');
    expect(replyIdOf({ id: 'bad id' })).toBeNull();
    expect(replyIdOf({ id: 'x'.repeat(65) })).toBeNull();
    expect(replyIdOf(null)).toBeNull();
    expect(replyIdOf('a')).toBeNull();
  });
});
