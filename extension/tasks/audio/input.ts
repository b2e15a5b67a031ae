/**
 * A page's audio input (SPEC §2: `{ audio: Float32Array, sampleRate }`) as every speech pipeline takes it: the checks
 * each pipeline makes the same way (modality, sample rate, samples), and the duration limit with the resampling to
 * the model's rate. Whisper (speech-recognition.ts) and the CTC models (speech-recognition-ctc.ts) both use it, so a
 * page gets the same errors from both.
 */
import { dataError } from '../../shared/errors';
import type { WireInput } from '../../shared/protocol';
import { resample } from './resample';

/** Sample rates a page may send, in Hz (telephone 8 kHz … studio 384 kHz, with room below for odd sources). */
export const MIN_SAMPLE_RATE = 1000;
export const MAX_SAMPLE_RATE = 384_000;

/** The input's samples and rate, checked: audio input, an integer rate in range, finite samples, at least one. */
export function checkedAudio(input: WireInput, task: string): { audio: Float32Array; sampleRate: number } {
  if (input.kind !== 'audio') {
    throw dataError(`${task} takes audio ({ audio: Float32Array, sampleRate }), got ${input.kind} input`);
  }
  const { audio, sampleRate } = input;
  if (
    typeof sampleRate !== 'number' ||
    !Number.isInteger(sampleRate) ||
    sampleRate < MIN_SAMPLE_RATE ||
    sampleRate > MAX_SAMPLE_RATE
  ) {
    throw dataError(
      `input sampleRate must be an integer number of Hz from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}, got ${String(sampleRate)}`,
    );
  }
  if (!(audio instanceof Float32Array) || audio.length === 0)
    throw dataError('input audio must be a non-empty Float32Array');
  const bad = audio.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw dataError(`input audio[${bad}] is ${audio[bad]}; samples must be finite numbers (usually −1 … 1)`);
  return { audio, sampleRate };
}

/**
 * The audio at `modelRate`, refused (DataError) when it is longer than `maxSamples` at that rate. The check is on the
 * duration itself (integers, no rounding), which is also the resampled one, so nothing is resampled to be refused.
 */
export function audioAtRate(
  audio: Float32Array,
  sampleRate: number,
  modelRate: number,
  maxSamples: number,
  task: string,
): Float32Array {
  if (audio.length * modelRate > maxSamples * sampleRate) {
    throw dataError(
      `input audio is ${(audio.length / sampleRate).toFixed(2)} s long; ${task} takes at most ${maxSamples / modelRate} s per run (split longer audio)`,
    );
  }
  return sampleRate === modelRate ? audio : resample(audio, sampleRate, modelRate);
}
