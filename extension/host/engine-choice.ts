/**
 * `engine: 'auto'` (SPEC §8) between webq's own decode engine and onnxruntime-web, by measurement: the first 'auto'
 * request for a model on an adapter times a short greedy decode on each engine, alternating, and runs on the faster;
 * the figures are stored (settings, `ENGINE_CHOICE_SETTING`), so later requests and later browser sessions choose
 * at once and the same way, and the report says which ran with the figures it was chosen by.
 *
 * A measurement belongs to one caller's partition (a site measures its own models: a stored figure another site made
 * would tell this one what that site ran), one graph (its sha256: a model's weights and bits set the speed), one
 * adapter and the engine's tiles (a new calibration changes them, and so measures again). A measurement that fails
 * is remembered for this engine's lifetime only, so a passing fault is not stored for good.
 */
import type { SettingsStore } from './gpu-quantize';

export type DecodeEngine = 'webq' | 'ort';

/** Greedy decode speed of each engine, tokens per second (0: it failed when measured). */
export interface EngineSpeeds {
  webq: number;
  ort: number;
}

/** The settings key of the stored measurements: `measurementKey` → EngineSpeeds. */
export const ENGINE_CHOICE_SETTING = 'decodeEngineChoice';
/** Stored measurements kept (the newest); a model measured again costs a second of its first request. */
const MAX_STORED = 64;
/**
 * Runs of each engine, alternating; the best of each counts (the first may still compile pipelines). The second
 * round only where the first took under ROUND_BUDGET_MS: a CPU-emulated adapter's slow steps would make it seconds.
 */
const ROUNDS = 2;
const ROUND_BUDGET_MS = 1000;

export interface MeasurementKey {
  partition: string;
  sha256: string;
  adapter: string;
  tiles: string;
}

export const measurementKey = (k: MeasurementKey): string => [k.partition, k.sha256, k.adapter, k.tiles].join('|');

const isSpeeds = (x: unknown): x is EngineSpeeds => {
  const s = x as Partial<EngineSpeeds> | null;
  const rate = (r: unknown) => typeof r === 'number' && Number.isFinite(r) && r >= 0;
  return typeof s === 'object' && s !== null && rate(s.webq) && rate(s.ort) && (s.webq! > 0 || s.ort! > 0);
};

/** The faster engine; a tie goes to webq's, whose step reads back one token id. */
export const fasterEngine = (s: EngineSpeeds): DecodeEngine => (s.webq >= s.ort ? 'webq' : 'ort');

/** The report's line: which engine runs, and the figures that chose it. */
export function choiceNote(s: EngineSpeeds): string {
  const rate = (r: number) => (r > 0 ? `${r.toPrecision(3)} tokens/s` : 'failed');
  const figures = `measured on this adapter: webq ${rate(s.webq)}, onnxruntime-web ${rate(s.ort)}`;
  return fasterEngine(s) === 'webq'
    ? `engine auto: webq's decode engine (${figures})`
    : `engine auto: onnxruntime-web (${figures})`;
}

/** Chooses between the engines for 'auto': by a remembered or stored measurement, else by one made now. */
export class EngineChooser {
  private readonly remembered = new Map<string, Promise<EngineSpeeds>>();

  constructor(private readonly settings: SettingsStore) {}

  /**
   * The speeds for `key`: remembered, stored, or measured now with `decode` (one greedy decode on the engine,
   * giving its tokens/s; it throws when aborted, and then nothing is remembered).
   */
  speeds(key: MeasurementKey, decode: (engine: DecodeEngine) => Promise<number>): Promise<EngineSpeeds> {
    const k = measurementKey(key);
    let speeds = this.remembered.get(k);
    if (!speeds) {
      speeds = this.storedOrMeasured(k, decode);
      this.remembered.set(k, speeds);
      speeds.catch(() => this.remembered.delete(k));
    }
    return speeds;
  }

  private async storedOrMeasured(
    key: string,
    decode: (engine: DecodeEngine) => Promise<number>,
  ): Promise<EngineSpeeds> {
    const stored = await this.read();
    const hit = stored[key];
    if (isSpeeds(hit)) return hit;
    const best: EngineSpeeds = { webq: 0, ort: 0 };
    const failed: Partial<Record<DecodeEngine, true>> = {};
    const started = performance.now();
    for (let round = 0; round < ROUNDS && (round === 0 || performance.now() - started < ROUND_BUDGET_MS); round++) {
      for (const engine of ['ort', 'webq'] as const) {
        if (failed[engine]) continue;
        try {
          best[engine] = Math.max(best[engine], await decode(engine));
        } catch (err) {
          if ((err as Error).name === 'AbortError') throw err;
          failed[engine] = true; // a failed engine reads as 0 and is not tried again in this measurement
        }
      }
    }
    if (!isSpeeds(best)) throw new Error('neither decode engine could be measured');
    // A failure is not stored: this engine remembers it; the next browser session measures again.
    if (!failed.webq && !failed.ort) {
      const latest = await this.read();
      const kept = Object.entries(latest)
        .filter(([k]) => k !== key)
        .slice(-(MAX_STORED - 1));
      await this.settings.write(ENGINE_CHOICE_SETTING, Object.fromEntries([...kept, [key, best]])).catch(() => {});
    }
    return best;
  }

  private async read(): Promise<Record<string, unknown>> {
    const stored = await this.settings.read(ENGINE_CHOICE_SETTING).catch(() => undefined);
    return typeof stored === 'object' && stored !== null && !Array.isArray(stored)
      ? (stored as Record<string, unknown>)
      : {};
  }
}
