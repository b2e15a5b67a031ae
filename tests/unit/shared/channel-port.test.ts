/**
 * ChannelPort (shared/channel-port.ts) over in-memory runtime ports and Node's real MessageChannel, and its place in
 * DirectPorts (host/direct-ports.ts): the switch keeps the order of each end's messages, only a nonce the port
 * offered opens a channel, and requests and results on the channel are served as on the runtime port.
 */
import { describe, expect, it } from 'vitest';
import { DirectPorts } from '../../../extension/host/direct-ports';
import type { Engine } from '../../../extension/host/engine';
import { ChannelPort, handoffIn } from '../../../extension/shared/channel-port';
import { KEEP_AWAKE } from '../../../extension/shared/link';
import { listen, post } from '../../../extension/shared/port-wire';
import type { ClientMessage, HostMessage } from '../../../extension/shared/protocol';
import { portPair } from '../../support/port-pair';
import { directPortFrom } from '../../support/direct-port';

const settle = () => new Promise((r) => setTimeout(r, 20));
const NONCE = 'b3c1f6d2-8a4e-4f0b-9c1d-2e7a5b6c8d90';

/** A bridge end and a host end over one runtime port pair, each recording what it was handed. */
function pair() {
  const [bridgeRuntime, hostRuntime] = portPair();
  let offered: string | undefined;
  const bridge = new ChannelPort(bridgeRuntime);
  const host = new ChannelPort(hostRuntime, (nonce) => (offered = nonce));
  const atBridge: unknown[] = [];
  const atHost: unknown[] = [];
  bridge.onMessage.addListener((m) => atBridge.push(m));
  host.onMessage.addListener((m) => atHost.push(m));
  return { bridge, host, bridgeRuntime, hostRuntime, atBridge, atHost, offered: () => offered };
}

/** `pair()` with a channel the bridge has offered (the offer delivered): its far end is for the host to `use`. */
async function offeredPair() {
  const p = pair();
  const { port1, port2 } = new MessageChannel();
  p.bridge.offer(NONCE, port1);
  await settle();
  return { ...p, port1, port2 };
}

describe('ChannelPort', () => {
  it('moves both ends onto the channel in order, with the runtime port carrying nothing after the switch', async () => {
    const { port1, port2, ...p } = await offeredPair();
    p.bridge.postMessage('b1');
    p.host.postMessage('h1');
    await settle();
    expect(p.offered()).toBe(NONCE);
    p.host.use(port2);
    // Sent on the channel right after the switch: it must not overtake h1 or the switch itself.
    p.host.postMessage('h2');
    p.host.postMessage('h3');
    await settle();
    p.bridge.postMessage('b2');
    await settle();
    expect(p.atBridge).toEqual(['h1', 'h2', 'h3']);
    expect(p.atHost).toEqual(['b1', 'b2']);
    expect(p.bridge.plain && p.host.plain).toBe(true);
    const afterSwitch = (posted: unknown[]) =>
      posted.slice(posted.findIndex((m) => (m as { type?: string }).type === 'webq-channel-switch') + 1);
    expect(afterSwitch(p.bridgeRuntime.posted)).toEqual([]);
    expect(afterSwitch(p.hostRuntime.posted)).toEqual([]);
    await expect(p.bridge.switched).resolves.toBeUndefined();
    port1.close();
  });

  it('sends KEEP_AWAKE on the runtime port after the switch too, and the other end does not deliver it', async () => {
    const { port1, port2, ...p } = await offeredPair();
    p.host.use(port2);
    await settle();
    expect(p.bridge.plain).toBe(true);
    p.bridge.postMessage(KEEP_AWAKE);
    p.bridge.postMessage('b1');
    await settle();
    expect(p.bridgeRuntime.posted.at(-1)).toEqual(KEEP_AWAKE); // the browser sees it arrive (shared/link.ts)
    expect(p.atHost).toEqual(['b1']);
    port1.close();
  });

  it('holds what the channel brings until the other end has switched on the runtime port', async () => {
    const { port1, port2, ...p } = await offeredPair();
    // A channel message that arrives before the host's switch on the runtime port (a stray, or a race).
    port2.postMessage('early');
    await settle();
    expect(p.atBridge).toEqual([]);
    p.hostRuntime.postMessage('late on the runtime port');
    p.host.use(port2);
    await settle();
    expect(p.atBridge).toEqual(['late on the runtime port', 'early']);
    port1.close();
  });

  it('does not switch to a channel that arrives after the runtime port closed', async () => {
    const { port1, port2, ...p } = await offeredPair();
    p.bridgeRuntime.disconnect();
    let closed = false;
    port1.addEventListener('close', () => (closed = true));
    p.host.use(port2);
    await settle();
    expect(p.host.plain).toBe(false);
    expect(closed).toBe(true);
  });

  it("reads what the channel brings through the bridge's `read`, and drops what it cannot read", async () => {
    const p = pair();
    const { port1, port2 } = new MessageChannel();
    // Firefox's bridge reads each message into its own objects (content/own-copy.ts); null is what failed to.
    p.bridge.offer(NONCE, port1, (data) => (data === 'unreadable' ? null : { read: data }));
    await settle();
    p.host.use(port2);
    p.host.postMessage('h1');
    p.host.postMessage('unreadable');
    p.host.postMessage('h2');
    await settle();
    expect(p.atBridge).toEqual([{ read: 'h1' }, { read: 'h2' }]);
    port1.close();
  });

  it('stays on the runtime port when no channel comes, and ignores a switch without a channel', async () => {
    const p = pair();
    p.hostRuntime.postMessage({ type: 'webq-channel-switch' });
    p.bridge.postMessage('b1');
    await settle();
    expect(p.bridge.plain).toBe(false);
    expect(p.atHost).toEqual(['b1']);
    expect(p.bridgeRuntime.posted).toEqual(['b1']);
  });
});

describe('handoffIn', () => {
  it('takes a channel with a well-formed handoff, rebuilt from its two fields, and nothing else', () => {
    const { port1, port2 } = new MessageChannel();
    const data = { type: 'webq-channel', nonce: NONCE, extra: 'dropped' };
    expect(handoffIn({ data, ports: [port1] })).toEqual({
      handoff: { type: 'webq-channel', nonce: NONCE },
      port: port1,
    });
    expect(handoffIn({ data, ports: [] })).toBeNull();
    expect(handoffIn({ data: { type: 'webq-channel', nonce: 'short' }, ports: [port1] })).toBeNull();
    expect(handoffIn({ data: { type: 'other', nonce: NONCE }, ports: [port1] })).toBeNull();
    port1.close();
    port2.close();
  });
});

describe('DirectPorts with a channel', () => {
  const ORIGIN = 'https://a.test';
  const request = (id: string, data: Float32Array) => ({
    type: 'request' as const,
    id,
    method: 'run' as const,
    params: {
      model: 'https://a.test/m.onnx',
      input: { kind: 'tensors', tensors: { x: { type: 'float32', data, dims: [data.length] } } },
      options: {},
    },
  });

  function setup() {
    const received: { message: ClientMessage; emit: (m: HostMessage) => void }[] = [];
    const engine = {
      busy: false,
      receive: (message: ClientMessage, _c: unknown, emit: (m: HostMessage) => void) =>
        received.push({ message, emit }),
    };
    const direct = new DirectPorts(engine as unknown as Engine, { id: 'ext', origin: 'https://ext.invalid' }, () => {});
    direct.receiveRouted(
      {
        message: { type: 'request', id: 'r1', method: 'capabilities', params: {} },
        caller: { origin: ORIGIN, tabId: 7, topOrigin: ORIGIN },
        grant: { requestsInFlightPerOrigin: 8, bytesInFlightPerOrigin: 1 << 30 },
      },
      () => {},
    );
    const bridge = () => {
      const far = directPortFrom(direct, ORIGIN);
      const wire = new ChannelPort(far);
      const got: unknown[] = [];
      listen(wire, 1e9, (m) => got.push(m));
      return { wire, far, got };
    };
    return { direct, received, bridge };
  }

  /** Moves a bridge's port onto a new channel (the offer, then the channel as the worker would hand it on). */
  async function onChannel(direct: DirectPorts, wire: ChannelPort): Promise<MessagePort> {
    const { port1, port2 } = new MessageChannel();
    wire.offer(NONCE, port1);
    await settle();
    direct.channel(NONCE, port2);
    await settle();
    return port1;
  }

  /** A channel whose far end is handed to the engine host, and whether the host closed it. */
  function watchedChannel() {
    const { port1, port2 } = new MessageChannel();
    const seen = { closed: false };
    port1.onmessage = () => {};
    port1.addEventListener('close', () => (seen.closed = true));
    return { near: port1, far: port2, seen };
  }

  it('serves requests that come on the channel, and sends large arrays on it as they are (no Blob)', async () => {
    const { direct, received, bridge } = setup();
    const b = bridge();
    const port1 = await onChannel(direct, b.wire);
    expect(b.wire.plain).toBe(true);
    const big = () => new Float32Array(65536).fill(2); // 256 KiB: a Blob on a runtime port
    post(b.wire, request('x', big()));
    await settle();
    const served = received.at(-1)!;
    expect(served.message).toMatchObject({ type: 'request', id: 'd1' });
    expect((served.message as ReturnType<typeof request>).params.input.tensors.x.data).toEqual(big());
    served.emit({ type: 'result', id: 'd1', result: { y: big() } });
    await settle();
    expect(b.got).toHaveLength(1);
    expect(b.got[0]).toMatchObject({ type: 'result', id: 'x' });
    expect((b.got[0] as { result: { y: Float32Array } }).result.y).toEqual(big());
    // Nothing but the switch and the offer went on the runtime port in either direction.
    const types = b.far.posted.map((m) => (m as { type?: string }).type);
    expect(types).toEqual(['webq-channel-offer', 'webq-channel-switch']);
    port1.close();
  });

  it('moves arrays on the channel, and sends a request it reroutes back whole', async () => {
    const { direct, bridge } = setup();
    direct.revoke(); // no grant: the engine host answers `reroute`
    const b = bridge();
    const port1 = await onChannel(direct, b.wire);
    const data = new Float32Array(1000).fill(4);
    post(b.wire, request('x', data));
    expect(data.byteLength).toBe(0); // moved to the engine host, not copied
    await settle();
    const reroute = b.got[0] as { type: string; id: string; message: ReturnType<typeof request> };
    expect(reroute).toMatchObject({ type: 'reroute', id: 'x', message: { type: 'request', id: 'x' } });
    expect([...reroute.message.params.input.tensors.x.data]).toEqual(Array(1000).fill(4));
    port1.close();
  });

  it('opens no channel for a nonce no port offered, or for one already used', async () => {
    const { direct, bridge } = setup();
    const b = bridge();
    const stray = watchedChannel();
    direct.channel('0000aaaa-0000-4000-8000-000000000000', stray.far);
    await settle();
    expect(b.wire.plain).toBe(false);
    const port1 = await onChannel(direct, b.wire);
    expect(b.wire.plain).toBe(true);
    // The same nonce again (a replayed handoff) matches nothing.
    const again = watchedChannel();
    direct.channel(NONCE, again.far);
    await settle();
    expect(again.seen.closed).toBe(true);
    expect(stray.seen.closed).toBe(true);
    for (const p of [port1, again.near, stray.near]) p.close();
  });

  it('drops a plain message above the receiver limit', async () => {
    const { direct, received, bridge } = setup();
    const b = bridge();
    const port1 = await onChannel(direct, b.wire);
    const before = received.length;
    post(b.wire, request('huge', new Float32Array((66 * 1024 * 1024) / 4)));
    await settle();
    expect(received.length).toBe(before);
    port1.close();
  });
});
