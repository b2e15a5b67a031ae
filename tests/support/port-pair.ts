/**
 * An in-memory runtime.Port pair for unit tests of the links: messages arrive asynchronously and in order, as
 * structured clones, and closing one end tells only the other end.
 */
import type { PortLike } from '../../extension/shared/link';

export interface End extends PortLike {
  posted: unknown[];
}

interface FakeEnd extends End {
  other: FakeEnd;
  open: boolean;
  gone: (() => void)[];
  message: ((m: unknown) => void)[];
}

export function portPair(): [End, End] {
  const make = (): FakeEnd => {
    const message: ((m: unknown) => void)[] = [];
    const gone: (() => void)[] = [];
    const end: FakeEnd = {
      posted: [] as unknown[],
      other: null as unknown as FakeEnd,
      open: true,
      message,
      gone,
      postMessage(m: unknown) {
        if (!end.open) throw new Error('Attempting to use a disconnected port object');
        end.posted.push(m);
        const to = end.other;
        queueMicrotask(() => {
          if (to.open) for (const l of to.message) l(structuredClone(m));
        });
      },
      onMessage: { addListener: (l: (m: unknown) => void) => message.push(l) },
      onDisconnect: { addListener: (l: () => void) => gone.push(l) },
      disconnect() {
        if (!end.open) return;
        end.open = false;
        end.other.open = false;
        for (const l of end.other.gone) l();
      },
    };
    return end;
  };
  const a = make();
  const b = make();
  a.other = b;
  b.other = a;
  return [a, b];
}
