/**
 * engine 'auto' by measurement (extension/host/engine-choice.ts): measured once per partition, graph, adapter and
 * tiles, the faster engine chosen, the figures stored for the next engine host; failures and aborts not stored.
 * The decode timings are a function here (the real probe runs in tests/kernels/native-decoder.test.ts and, through
 * the extension, in the generation suite).
 */
import { describe, expect, it } from 'vitest';
import {
  choiceNote,
  ENGINE_CHOICE_SETTING,
  EngineChooser,
  fasterEngine,
  measurementKey,
  type DecodeEngine,
} from '../../../extension/host/engine-choice';
import { WebqError } from '../../../extension/shared/errors';

function memorySettings() {
  const values = new Map<string, unknown>();
  return {
    values,
    read: async (key: string) => structuredClone(values.get(key)),
    write: async (key: string, value: unknown) => void values.set(key, structuredClone(value)),
  };
}

const KEY = { partition: 'https://a.example', sha256: 'ab12', adapter: 'nvidia/hopper/-/-', tiles: 'GEMV [64, 4, 1]' };

/** A decode that gives these rates per run, and counts the runs of each engine. */
function timings(rates: Record<DecodeEngine, number[]>) {
  const runs: DecodeEngine[] = [];
  const decode = async (engine: DecodeEngine) => {
    runs.push(engine);
    const r = rates[engine].shift();
    if (r === undefined) throw new Error(`${engine} asked to decode once too often`);
    if (r < 0) throw new Error(`${engine} failed`);
    return r;
  };
  return { runs, decode };
}

describe('EngineChooser', () => {
  it('measures each engine twice, alternating, keeps the best of each, and stores them', async () => {
    const settings = memorySettings();
    const { runs, decode } = timings({ ort: [10, 14], webq: [30, 25] });
    const speeds = await new EngineChooser(settings).speeds(KEY, decode);
    expect(runs).toEqual(['ort', 'webq', 'ort', 'webq']);
    expect(speeds).toEqual({ webq: 30, ort: 14 });
    expect(fasterEngine(speeds)).toBe('webq');
    expect(settings.values.get(ENGINE_CHOICE_SETTING)).toEqual({ [measurementKey(KEY)]: { webq: 30, ort: 14 } });
  });

  it('chooses onnxruntime-web where it measured faster', async () => {
    const { decode } = timings({ ort: [40, 41], webq: [20, 22] });
    const speeds = await new EngineChooser(memorySettings()).speeds(KEY, decode);
    expect(fasterEngine(speeds)).toBe('ort');
    expect(choiceNote(speeds)).toBe(
      'engine auto: onnxruntime-web (measured on this adapter: webq 22.0 tokens/s, onnxruntime-web 41.0 tokens/s)',
    );
  });

  it('reads a stored measurement without measuring (a new engine host, the same store)', async () => {
    const settings = memorySettings();
    await new EngineChooser(settings).speeds(KEY, timings({ ort: [5, 5], webq: [9, 9] }).decode);
    const again = timings({ ort: [], webq: [] });
    expect(await new EngineChooser(settings).speeds(KEY, again.decode)).toEqual({ webq: 9, ort: 5 });
    expect(again.runs).toEqual([]);
  });

  it('remembers in memory: concurrent first requests measure once', async () => {
    const chooser = new EngineChooser(memorySettings());
    const { runs, decode } = timings({ ort: [1, 2], webq: [3, 4] });
    const [a, b] = await Promise.all([chooser.speeds(KEY, decode), chooser.speeds(KEY, decode)]);
    expect(a).toEqual(b);
    expect(runs).toHaveLength(4);
  });

  it('measures anew for another site, graph, adapter or tiles (a new calibration)', async () => {
    const settings = memorySettings();
    const chooser = new EngineChooser(settings);
    await chooser.speeds(KEY, timings({ ort: [1, 1], webq: [2, 2] }).decode);
    for (const other of [
      { ...KEY, partition: 'https://b.example' },
      { ...KEY, sha256: 'cd34' },
      { ...KEY, adapter: 'google/swiftshader/-/-' },
      { ...KEY, tiles: 'GEMV [32, 8, 1]' },
    ]) {
      const t = timings({ ort: [3, 3], webq: [1, 1] });
      expect(fasterEngine(await chooser.speeds(other, t.decode))).toBe('ort');
      expect(t.runs).toHaveLength(4);
    }
    expect(Object.keys(settings.values.get(ENGINE_CHOICE_SETTING) as object)).toHaveLength(5);
  });

  it('an engine that fails reads as 0 and loses; the measurement is not stored, only remembered', async () => {
    const settings = memorySettings();
    const chooser = new EngineChooser(settings);
    const { runs, decode } = timings({ ort: [8, 8], webq: [-1] });
    const speeds = await chooser.speeds(KEY, decode);
    expect(speeds).toEqual({ webq: 0, ort: 8 });
    expect(runs).toEqual(['ort', 'webq', 'ort']); // not tried again after failing
    expect(choiceNote(speeds)).toMatch(/^engine auto: onnxruntime-web \(.*webq failed, onnxruntime-web 8\.00 tokens/);
    expect(settings.values.get(ENGINE_CHOICE_SETTING)).toBeUndefined();
    expect(await chooser.speeds(KEY, timings({ ort: [], webq: [] }).decode)).toEqual(speeds);
  });

  it('both failing, or an abort, reject and leave nothing remembered or stored', async () => {
    const settings = memorySettings();
    const chooser = new EngineChooser(settings);
    await expect(chooser.speeds(KEY, timings({ ort: [-1], webq: [-1] }).decode)).rejects.toThrow(/neither/);
    const abort = async () => {
      throw new WebqError('AbortError', 'the request was aborted');
    };
    await expect(chooser.speeds(KEY, abort)).rejects.toMatchObject({ name: 'AbortError' });
    const t = timings({ ort: [2, 2], webq: [3, 3] });
    expect(await chooser.speeds(KEY, t.decode)).toEqual({ webq: 3, ort: 2 });
    expect(t.runs).toHaveLength(4);
  });

  it('keeps the newest 64 measurements; a bad stored value is measured again', async () => {
    const settings = memorySettings();
    const chooser = new EngineChooser(settings);
    for (let i = 0; i < 70; i++)
      await chooser.speeds({ ...KEY, sha256: `g${i}` }, timings({ ort: [1, 1], webq: [2, 2] }).decode);
    const stored = settings.values.get(ENGINE_CHOICE_SETTING) as Record<string, unknown>;
    expect(Object.keys(stored)).toHaveLength(64);
    expect(stored[measurementKey({ ...KEY, sha256: 'g69' })]).toBeDefined();
    expect(stored[measurementKey({ ...KEY, sha256: 'g5' })]).toBeUndefined();
    settings.values.set(ENGINE_CHOICE_SETTING, { [measurementKey(KEY)]: { webq: 'fast', ort: -1 } });
    const t = timings({ ort: [1, 1], webq: [2, 2] });
    await new EngineChooser(settings).speeds(KEY, t.decode);
    expect(t.runs).toHaveLength(4);
  });
});
