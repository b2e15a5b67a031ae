/**
 * DirectPorts (host/direct-ports.ts), the engine host's end of Chrome's direct path, with in-memory ports and an
 * engine that records what reaches it: grants, ids of its own, the router's limits over both paths, aborts.
 */
import { describe, expect, it } from 'vitest';
import { DirectPorts } from '../../../extension/host/direct-ports';
import type { Engine } from '../../../extension/host/engine';
import type { BusySignal } from '../../../extension/shared/direct';
import { listen, post } from '../../../extension/shared/port-wire';
import { DIRECT_PORT } from '../../../extension/shared/ports';
import type { Caller, ClientMessage, HostMessage } from '../../../extension/shared/protocol';
import { portPair } from '../../support/port-pair';
import { directPortFrom } from '../../support/direct-port';

const tick = () => new Promise((r) => setTimeout(r, 0));
const extension = { id: 'ext', origin: 'https://ext.invalid' };
const ORIGIN = 'https://a.test';
const caller: Caller = { origin: ORIGIN, tabId: 7, topOrigin: ORIGIN };
const limits = { requestsInFlightPerOrigin: 2, bytesInFlightPerOrigin: 1024 };
const request = (id: string) => ({ type: 'request' as const, id, method: 'capabilities' as const, params: {} });

function setup() {
  const received: { message: ClientMessage; caller: Caller; emit: (m: HostMessage) => void }[] = [];
  const engine = {
    busy: false,
    receive: (message: ClientMessage, c: Caller, emit: (m: HostMessage) => void) =>
      received.push({ message, caller: c, emit }),
  };
  const reports: boolean[] = [];
  const direct = new DirectPorts(engine as unknown as Engine, extension, (s: BusySignal) => reports.push(s.busy));
  /** A bridge's direct port from a tab of ORIGIN: what the bridge sees, and a way to send. */
  const bridge = () => {
    const far = directPortFrom(direct, ORIGIN);
    const got: unknown[] = [];
    listen(far, 1e9, (m) => got.push(m));
    return { got, send: (m: unknown) => post(far, m), close: () => far.disconnect() };
  };
  const routed = (id: string, grant = true) => {
    const replies: HostMessage[] = [];
    direct.receiveRouted({ message: request(id), caller, ...(grant && { grant: limits }) }, (m) => replies.push(m));
    return replies;
  };
  return { direct, engine, received, reports, bridge, routed };
}

describe('DirectPorts', () => {
  it('reroutes requests of an origin the router has not granted; serves them once it has', async () => {
    const { received, bridge, routed } = setup();
    const b = bridge();
    b.send(request('x'));
    await tick();
    expect(b.got).toMatchObject([
      { type: 'reroute', id: 'x', message: { type: 'request', id: 'x', method: 'capabilities' } },
    ]);
    expect(received).toHaveLength(0);
    routed('r1');
    b.send(request('x'));
    await tick();
    expect(received.map((r) => r.message.id)).toEqual(['r1', 'd1']);
    expect(received[1]!.caller).toEqual(caller); // from the port's sender, as the router stamps it
    received[1]!.emit({ type: 'result', id: 'd1', result: 5 });
    await tick();
    expect(b.got.at(-1)).toEqual({ type: 'result', id: 'x', result: 5 });
  });

  it('validates what a bridge sends, naming the field, and refuses ports that are not bridges of web pages', async () => {
    const { received, bridge, routed, direct } = setup();
    routed('r1');
    const b = bridge();
    b.send({ type: 'request', id: 'bad', method: 'run', params: {} });
    await tick();
    expect(b.got[0]).toMatchObject({ type: 'error', id: 'bad', error: { name: 'DataError' } });
    expect(received).toHaveLength(1);
    const [near, far] = portPair();
    let closed = false;
    far.onDisconnect.addListener(() => (closed = true));
    Object.assign(near, { name: DIRECT_PORT, sender: { id: 'other-extension', url: `${ORIGIN}/`, tab: { id: 1 } } });
    direct.accept(near as unknown as chrome.runtime.Port);
    expect(closed).toBe(true);
  });

  it("holds the router's limits over routed and direct requests of one origin together", async () => {
    const { received, bridge, routed } = setup();
    routed('r1'); // one slot
    const b = bridge();
    b.send(request('a')); // two
    b.send(request('b')); // over
    await tick();
    expect(received.map((r) => r.message.id)).toEqual(['r1', 'd1']);
    expect(b.got[0]).toMatchObject({ type: 'error', id: 'b', error: { name: 'QuotaExceededError' } });
    expect(routed('r2', false)[0]).toMatchObject({ type: 'error', id: 'r2', error: { name: 'QuotaExceededError' } });
    received[0]!.emit({ type: 'result', id: 'r1', result: null }); // the routed one ends: its slot is free
    b.send(request('c'));
    await tick();
    expect(received.map((r) => r.message.id)).toEqual(['r1', 'd1', 'd2']);
  });

  it('passes aborts on under its own ids, and aborts what a closed port had in flight', async () => {
    const { received, bridge, routed } = setup();
    routed('r1');
    received[0]!.emit({ type: 'result', id: 'r1', result: null }); // its slot is free again
    const b = bridge();
    b.send(request('a'));
    b.send(request('b'));
    await tick();
    b.send({ type: 'abort', id: 'a' });
    await tick();
    expect(received.at(-1)!.message).toEqual({ type: 'abort', id: 'd1' });
    b.close();
    expect(received.at(-1)!.message).toEqual({ type: 'abort', id: 'd2' });
  });

  it('ends every grant on revoke, and reports busy while it serves direct requests', async () => {
    const { direct, received, reports, bridge, routed } = setup();
    routed('r1');
    const b = bridge();
    b.send(request('a'));
    await tick();
    expect(reports).toEqual([true]);
    received[1]!.emit({ type: 'result', id: 'd1', result: null });
    await new Promise((r) => setTimeout(r, 1100));
    expect(reports).toEqual([true, false]);
    // The last request aborted: nobody gets its reply, and the host still reports idle.
    b.send(request('c'));
    await tick();
    b.send({ type: 'abort', id: 'c' });
    await tick();
    received.at(-1)!.emit({ type: 'error', id: 'd2', error: { name: 'AbortError', message: 'aborted' } });
    await new Promise((r) => setTimeout(r, 1100));
    expect(reports).toEqual([true, false, true, false]);
    expect(b.got.filter((m) => (m as { id?: string }).id === 'c')).toEqual([]);
    direct.revoke();
    b.send(request('b'));
    await tick();
    expect(b.got.at(-1)).toMatchObject({ type: 'reroute', id: 'b', message: { type: 'request', id: 'b' } });
  });
});
