/**
 * Sample-rate conversion for audio tasks: band-limited interpolation (J. O. Smith's method, as resampy does it).
 *
 * Why not linear interpolation or dropping samples: going from 44.1 or 48 kHz down to 16 kHz, everything between
 * 8 kHz and the source's Nyquist frequency folds back into the 0–8 kHz band the model hears (a 10 kHz whistle becomes
 * a 6 kHz tone). A low-pass at the lower of the two Nyquist frequencies has to come first; a Kaiser-windowed sinc
 * does the low-pass and the interpolation in one step, for any ratio of rates (44 100 → 16 000 is 160/441).
 *
 * The windowed sinc is tabulated once (TABLE_DENSITY points per zero crossing) and read with linear interpolation
 * between table points, so each tap costs a multiply-add, not a sin() and a Bessel function.
 */

/** Zero crossings of the sinc on each side: the filter's length, and with BETA its stop-band depth. */
const ZERO_CROSSINGS = 32;
/** Kaiser window β ≈ 9: about 90 dB of stop-band attenuation. */
const BETA = 9;
/** Cut-off as a fraction of the lower Nyquist frequency: the transition band (~1.3 kHz at 16 kHz) ends at Nyquist. */
const ROLLOFF = 0.92;
const TABLE_DENSITY = 512;

let table: Float64Array | undefined;

/** The windowed sinc at u = 0, 1/TABLE_DENSITY, …, ZERO_CROSSINGS (u in zero crossings), then zeros for rounding at the
 * edge. */
function kernelTable(): Float64Array {
  if (table) return table;
  const n = ZERO_CROSSINGS * TABLE_DENSITY;
  table = new Float64Array(n + 4);
  const i0Beta = besselI0(BETA);
  for (let k = 0; k <= n; k++) {
    const u = k / TABLE_DENSITY;
    const sinc = k === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u);
    const r = u / ZERO_CROSSINGS;
    table[k] = sinc * (besselI0(BETA * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta);
  }
  return table;
}

/** Modified Bessel function of the first kind, order 0 (its power series converges fast for the β used here). */
function besselI0(x: number): number {
  let sum = 1,
    term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64 && term > sum * 1e-17; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

/** Number of samples `length` input samples at `from` Hz become at `to` Hz. */
export function resampledLength(length: number, from: number, to: number): number {
  return Math.ceil((length * to) / from);
}

/**
 * `input` sampled at `from` Hz, resampled to `to` Hz (both positive integers). Samples before the start and after
 * the end count as silence. Gain is 1 in the pass band (up to ROLLOFF × the lower Nyquist frequency, minus the
 * transition band), tones above the lower Nyquist frequency are removed rather than folded back.
 */
export function resample(input: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return input.slice();
  const kernel = kernelTable();
  const outLength = resampledLength(input.length, from, to);
  const out = new Float32Array(outLength);
  // Cut-off in cycles per input sample, relative to the input's Nyquist: downsampling narrows it by to/from.
  const fc = ROLLOFF * Math.min(1, to / from);
  const reach = ZERO_CROSSINGS / fc; // half-length of the filter, in input samples
  const step = fc * TABLE_DENSITY; // table positions per input sample
  const last = input.length - 1;
  for (let j = 0; j < outLength; j++) {
    // Position in input samples (j * from is an exact integer); t < input.length, so left ≤ last.
    const t = (j * from) / to;
    const left = Math.floor(t);
    let acc = 0;
    // Taps at and left of t: distance t − i grows as i goes down.
    const iMin = Math.max(0, Math.ceil(t - reach));
    let pos = (t - left) * step;
    for (let i = left; i >= iMin; i--, pos += step) {
      const k = pos | 0;
      const w = kernel[k]! + (pos - k) * (kernel[k + 1]! - kernel[k]!);
      acc += input[i]! * w;
    }
    // Taps right of t.
    const iMax = Math.min(last, Math.floor(t + reach));
    pos = (left + 1 - t) * step;
    for (let i = left + 1; i <= iMax; i++, pos += step) {
      const k = pos | 0;
      const w = kernel[k]! + (pos - k) * (kernel[k + 1]! - kernel[k]!);
      acc += input[i]! * w;
    }
    out[j] = acc * fc;
  }
  return out;
}
