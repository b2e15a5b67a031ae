import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeltaBatcher } from '../../../extension/host/delta-batcher';

describe('DeltaBatcher', () => {
  let clock = 0;
  let sent: string[];
  const batcher = () =>
    new DeltaBatcher(
      (t) => sent.push(t),
      30,
      () => clock,
    );
  const advance = (ms: number) => {
    clock += ms;
    vi.advanceTimersByTime(ms);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    clock = 1000;
    sent = [];
  });
  afterEach(() => vi.useRealTimers());

  it('sends the first delta at once and joins the ones that follow within the interval', () => {
    const b = batcher();
    b.push('Once');
    expect(sent).toEqual(['Once']);
    advance(10);
    b.push(' upon');
    advance(10);
    b.push(' a');
    expect(sent).toEqual(['Once']);
    advance(10);
    expect(sent).toEqual(['Once', ' upon a']);
    advance(40);
    b.push(' time');
    expect(sent).toEqual(['Once', ' upon a', ' time']);
  });

  it('flush sends what is held at once, and no timer sends it again; never an empty delta', () => {
    const b = batcher();
    b.push('a');
    b.push('');
    b.push('b');
    b.flush();
    b.flush();
    advance(100);
    expect(sent).toEqual(['a', 'b']);
  });

  it('never sends more than one delta per interval, and loses no text', () => {
    const times: number[] = [];
    const send = new DeltaBatcher(
      (t) => {
        sent.push(t);
        times.push(clock);
      },
      30,
      () => clock,
    );
    for (let i = 0; i < 100; i++) {
      send.push(`${i},`);
      advance(7);
    }
    send.flush();
    expect(sent.join('')).toBe(Array.from({ length: 100 }, (_, i) => `${i},`).join(''));
    expect(sent.length).toBeLessThan(30);
    for (let i = 1; i < times.length - 1; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(30);
  });
});
