/**
 * BridgeLink (content/bridge-link.ts): the router's port first, the direct port once the router says `direct`, back
 * to the router for a request the engine host reroutes, and aborts the way their request went. In-memory ports.
 */
import { describe, expect, it } from 'vitest';
import { BridgeLink } from '../../../extension/content/bridge-link';
import { isKeepAwake } from '../../../extension/shared/link';
import { listen, post } from '../../../extension/shared/port-wire';
import { DIRECT_PORT, PAGE_PORT } from '../../../extension/shared/ports';
import type { HostMessage } from '../../../extension/shared/protocol';
import { portPair, type End } from '../../support/port-pair';

const tick = () => new Promise((r) => setTimeout(r, 0));
const request = (id: string) => ({ type: 'request' as const, id, method: 'capabilities' as const, params: {} });

function setup() {
  const far: Record<string, End[]> = { [PAGE_PORT]: [], [DIRECT_PORT]: [] };
  const seen: Record<string, unknown[]> = { [PAGE_PORT]: [], [DIRECT_PORT]: [] };
  const link = new BridgeLink((name) => {
    const [near, other] = portPair();
    far[name]!.push(other);
    // What each port carries for its far end, less the links' keep-awake pings (shared/link.ts), which it drops.
    listen(other, 1e9, (m) => isKeepAwake(m) || seen[name]!.push(m));
    return near;
  });
  const got: HostMessage[] = [];
  link.listen((m) => got.push(m));
  const router = () => far[PAGE_PORT]!.at(-1)!;
  const host = () => far[DIRECT_PORT]!.at(-1)!;
  /** Request a through the router, which says `direct`; then request b, which goes straight to the host. */
  const aRoutedThenBDirect = async () => {
    link.send(request('a'));
    post(router(), { type: 'direct' });
    await tick();
    link.send(request('b'));
    await tick();
  };
  return { link, got, seen, router, host, far, aRoutedThenBDirect };
}

describe('BridgeLink', () => {
  it('goes through the router until it says direct, then straight to the engine host', async () => {
    const { link, got, seen, router, host } = setup();
    link.send(request('a'));
    await tick();
    expect(seen[PAGE_PORT]).toEqual([request('a')]);
    post(router(), { type: 'direct' });
    post(router(), { type: 'result', id: 'a', result: 1 });
    await tick();
    link.send(request('b'));
    await tick();
    expect(seen[DIRECT_PORT]).toEqual([request('b')]);
    post(host(), { type: 'result', id: 'b', result: 2 });
    await tick();
    expect(got).toEqual([
      { type: 'result', id: 'a', result: 1 },
      { type: 'result', id: 'b', result: 2 },
    ]); // the signal itself is not delivered
  });

  it('sends a rerouted request through the router, and the next ones too until the router says direct again', async () => {
    const { link, got, seen, router, host, aRoutedThenBDirect } = setup();
    await aRoutedThenBDirect();
    post(host(), { type: 'reroute', id: 'b' });
    await tick();
    expect(seen[PAGE_PORT]).toEqual([request('a'), request('b')]);
    link.send(request('c'));
    await tick();
    expect(seen[PAGE_PORT]).toEqual([request('a'), request('b'), request('c')]);
    expect(seen[DIRECT_PORT]).toEqual([request('b')]);
    post(router(), { type: 'result', id: 'b', result: 'via router' });
    await tick();
    expect(got).toEqual([{ type: 'result', id: 'b', result: 'via router' }]);
  });

  it('sends an abort the way its request went, also after a progress event', async () => {
    const { link, seen, host, aRoutedThenBDirect } = setup();
    await aRoutedThenBDirect();
    post(host(), { type: 'progress', id: 'b', progress: { phase: 'download', loaded: 1, total: 2 } });
    await tick();
    link.send({ type: 'abort', id: 'b' });
    link.send({ type: 'abort', id: 'a' });
    await tick();
    expect(seen[DIRECT_PORT]).toEqual([request('b'), { type: 'abort', id: 'b' }]);
    expect(seen[PAGE_PORT]).toEqual([request('a'), { type: 'abort', id: 'a' }]);
  });

  it('fails the direct requests in flight when the engine host goes away, and uses the router again', async () => {
    const { link, got, seen, host, aRoutedThenBDirect } = setup();
    await aRoutedThenBDirect();
    host().disconnect();
    expect(got).toEqual([
      {
        type: 'error',
        id: 'b',
        error: {
          name: 'OperationError',
          message: 'the engine host closed while this request was running; call again',
        },
      },
    ]);
    link.send(request('c'));
    await tick();
    expect(seen[PAGE_PORT]).toEqual([request('a'), request('c')]);
  });
});
