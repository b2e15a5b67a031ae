/**
 * Whisper's input features: the log-mel spectrogram of transformers' WhisperFeatureExtractor (numpy path), step by
 * step:
 *   pad with zeros (or cut) to nSamples; centre: reflect-pad nFft/2 on each side (numpy "reflect", edge not repeated)
 *   frames every `hop` samples × periodic Hann window of nFft → |rFFT|² → mel filters → max(·, 1e-10) → log10
 *   drop the last frame (nSamples/hop + 1 frames → nFrames), floor at (max − 8), then (x + 4) / 4.
 * Frames that are all zeros (the padding after a short clip) have a spectrum of exact zeros, so they are not
 * transformed: their value is the same log10(1e-10) the full computation gives.
 */

export interface LogMelConfig {
  nFft: number;
  hop: number;
  /** Samples of one window (chunk_length × sampling_rate). */
  nSamples: number;
  /** Frames returned (nb_max_frames = nSamples / hop). */
  nFrames: number;
  nMels: number;
  /** [nMels, nFft/2 + 1], row-major. */
  melFilters: Float32Array;
}

const MEL_FLOOR = 1e-10;

/** Features [nMels, nFrames] (row-major) of `audio`, already at the model's sampling rate. */
export function whisperLogMel(audio: Float32Array, config: LogMelConfig): Float32Array {
  const { nFft, hop, nSamples, nFrames, nMels, melFilters } = config;
  const nFreqs = (nFft >> 1) + 1;
  if (melFilters.length !== nMels * nFreqs)
    throw new Error(`mel filters have ${melFilters.length} values, not ${nMels} × ${nFreqs}`);
  const padded = centredSignal(audio, nSamples, nFft);
  const firstNonZero = padded.findIndex((v) => v !== 0);
  const lastNonZero = padded.findLastIndex((v) => v !== 0);
  const bands = filterBands(melFilters, nMels, nFreqs);
  const window = periodicHann(nFft);
  const fft = new Fft(nFft);
  const re = new Float64Array(nFft),
    im = new Float64Array(nFft),
    outRe = new Float64Array(nFft),
    outIm = new Float64Array(nFft);
  const power = new Float64Array(nFreqs);
  const logSpec = new Float64Array(nMels * nFrames);
  const silentLog = Math.log10(MEL_FLOOR);
  let max = -Infinity;
  for (let t = 0; t < nFrames; t++) {
    const start = t * hop;
    if (firstNonZero < 0 || start > lastNonZero || start + nFft - 1 < firstNonZero) {
      for (let m = 0; m < nMels; m++) logSpec[m * nFrames + t] = silentLog;
      max = Math.max(max, silentLog);
      continue;
    }
    for (let i = 0; i < nFft; i++) {
      re[i] = padded[start + i]! * window[i]!;
      im[i] = 0;
    }
    fft.transform(re, im, outRe, outIm);
    for (let f = 0; f < nFreqs; f++) power[f] = outRe[f]! * outRe[f]! + outIm[f]! * outIm[f]!;
    for (let m = 0; m < nMels; m++) {
      const { from, to } = bands[m]!;
      let sum = 0;
      for (let f = from; f < to; f++) sum += melFilters[m * nFreqs + f]! * power[f]!;
      const v = Math.log10(Math.max(MEL_FLOOR, sum));
      logSpec[m * nFrames + t] = v;
      if (v > max) max = v;
    }
  }
  const out = new Float32Array(nMels * nFrames);
  const floor = max - 8;
  for (let i = 0; i < out.length; i++) out[i] = (Math.max(logSpec[i]!, floor) + 4) / 4;
  return out;
}

/** `audio` zero-padded or cut to nSamples, then reflect-padded by nFft/2 on each side (numpy's mode "reflect"). */
function centredSignal(audio: Float32Array, nSamples: number, nFft: number): Float64Array {
  const half = nFft >> 1;
  const out = new Float64Array(nSamples + 2 * half);
  const n = Math.min(audio.length, nSamples);
  for (let i = 0; i < n; i++) out[half + i] = audio[i]!;
  for (let k = 1; k <= half; k++) {
    out[half - k] = out[half + k]!;
    out[half + nSamples - 1 + k] = out[half + nSamples - 1 - k]!;
  }
  return out;
}

/** The periodic Hann window (numpy's hann(n + 1)[:-1]), as Whisper and torch.hann_window use. */
function periodicHann(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
}

/** Each filter's non-zero frequency range, so a frame costs the filters' widths rather than nMels × nFreqs. */
function filterBands(filters: Float32Array, nMels: number, nFreqs: number): { from: number; to: number }[] {
  return Array.from({ length: nMels }, (_, m) => {
    const row = filters.subarray(m * nFreqs, (m + 1) * nFreqs);
    const from = row.findIndex((v) => v !== 0);
    return from < 0 ? { from: 0, to: 0 } : { from, to: row.findLastIndex((v) => v !== 0) + 1 };
  });
}

// ---- mel filter bank ----

const MIN_LOG_HERTZ = 1000,
  MIN_LOG_MEL = 15,
  LOG_STEP = 27 / Math.log(6.4);

/** Slaney's mel scale (librosa's htk=False): linear below 1 kHz, logarithmic above. */
export function hertzToMel(hz: number): number {
  return hz >= MIN_LOG_HERTZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HERTZ) * LOG_STEP : (3 * hz) / 200;
}

export function melToHertz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HERTZ * Math.exp((mel - MIN_LOG_MEL) / LOG_STEP) : (200 * mel) / 3;
}

/**
 * Triangular filters [nMels, nFft/2 + 1] evenly spaced on the Slaney mel scale from fMin to fMax, each scaled to
 * unit area in Hz (norm "slaney") — librosa.filters.mel(sr, n_fft, n_mels, htk=False, norm="slaney"), the bank
 * Whisper was trained with and transformers' mel_filter_bank(..., norm="slaney", mel_scale="slaney").
 */
export function slaneyMelFilters(
  nMels: number,
  nFft: number,
  sampleRate: number,
  fMin = 0,
  fMax = sampleRate / 2,
): Float32Array {
  const nFreqs = (nFft >> 1) + 1;
  const melMin = hertzToMel(fMin),
    melMax = hertzToMel(fMax);
  const edges = Array.from({ length: nMels + 2 }, (_, i) => melToHertz(melMin + ((melMax - melMin) * i) / (nMels + 1)));
  const out = new Float32Array(nMels * nFreqs);
  for (let m = 0; m < nMels; m++) {
    const [lower, centre, upper] = [edges[m]!, edges[m + 1]!, edges[m + 2]!];
    const enorm = 2 / (upper - lower);
    for (let f = 0; f < nFreqs; f++) {
      const hz = (f * (sampleRate / 2)) / (nFreqs - 1);
      const weight = Math.min((hz - lower) / (centre - lower), (upper - hz) / (upper - centre));
      if (weight > 0) out[m * nFreqs + f] = weight * enorm;
    }
  }
  return out;
}

// ---- FFT ----

/**
 * A mixed-radix complex FFT (the decimation-in-time recursion of KISS FFT, generic butterflies) for any length;
 * Whisper's 400 = 4·4·5·5 is not a power of two. Twiddles and factors are computed once per length.
 */
export class Fft {
  private readonly twRe: Float64Array;
  private readonly twIm: Float64Array;
  /** [p1, m1, p2, m2, …]: radix and remaining length at each stage. */
  private readonly factors: number[] = [];
  private readonly scratchRe: Float64Array;
  private readonly scratchIm: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`FFT length must be a positive integer, got ${n}`);
    this.twRe = Float64Array.from({ length: n }, (_, k) => Math.cos((-2 * Math.PI * k) / n));
    this.twIm = Float64Array.from({ length: n }, (_, k) => Math.sin((-2 * Math.PI * k) / n));
    let rest = n,
      p = 4;
    while (rest > 1) {
      while (rest % p !== 0) p = p === 4 ? 2 : p === 2 ? 3 : p + 2;
      rest /= p;
      this.factors.push(p, rest);
    }
    if (this.factors.length === 0) this.factors.push(1, 1);
    const maxRadix = Math.max(...this.factors.filter((_, i) => i % 2 === 0));
    this.scratchRe = new Float64Array(maxRadix);
    this.scratchIm = new Float64Array(maxRadix);
  }

  /** out = Σ_t in[t]·e^(−2πi·k·t/n). */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.work(outRe, outIm, 0, inRe, inIm, 0, 1, 0);
  }

  private work(
    outRe: Float64Array,
    outIm: Float64Array,
    out: number,
    inRe: Float64Array,
    inIm: Float64Array,
    at: number,
    stride: number,
    stage: number,
  ): void {
    const p = this.factors[stage]!,
      m = this.factors[stage + 1]!;
    if (m === 1) {
      for (let q = 0; q < p; q++) {
        outRe[out + q] = inRe[at + q * stride]!;
        outIm[out + q] = inIm[at + q * stride]!;
      }
    } else {
      for (let q = 0; q < p; q++)
        this.work(outRe, outIm, out + q * m, inRe, inIm, at + q * stride, stride * p, stage + 2);
    }
    this.butterfly(outRe, outIm, out, stride, p, m);
  }

  /** Combines p sub-transforms of length m (each at out + q·m) into one of length p·m. */
  private butterfly(re: Float64Array, im: Float64Array, out: number, stride: number, p: number, m: number): void {
    const { n, twRe, twIm, scratchRe: sRe, scratchIm: sIm } = this;
    for (let u = 0; u < m; u++) {
      for (let q = 0; q < p; q++) {
        sRe[q] = re[out + u + q * m]!;
        sIm[q] = im[out + u + q * m]!;
      }
      for (let q1 = 0, k = u; q1 < p; q1++, k += m) {
        let accRe = sRe[0]!,
          accIm = sIm[0]!,
          tw = 0;
        for (let q = 1; q < p; q++) {
          tw += stride * k;
          if (tw >= n) tw -= n;
          accRe += sRe[q]! * twRe[tw]! - sIm[q]! * twIm[tw]!;
          accIm += sRe[q]! * twIm[tw]! + sIm[q]! * twRe[tw]!;
        }
        re[out + k] = accRe;
        im[out + k] = accIm;
      }
    }
  }
}
