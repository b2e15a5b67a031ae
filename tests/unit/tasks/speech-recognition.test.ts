/**
 * The automatic-speech-recognition pipeline: its audio front end against plain references written here (a naive
 * DFT log-mel, librosa's mel filters, ideal sines for resampling), then the whole path on a generated Whisper-shaped
 * model (tools/hub-models/whisper.ts) on onnxruntime-node's CPU EP: sounds → texts, the KV-cached decoder,
 * maxNewTokens, language, the logits processors, weights rewritten to 4 bits, abort, and the errors a page can cause.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkOptions } from '../../../extension/host/plan';
import { prepareModel } from '../../../extension/host/prepare';
import { makePolicy } from '../../../extension/onnx/index';
import { forEachGraph, onnx } from '../../../extension/onnx/model';
import type { WireInput } from '../../../extension/shared/protocol';
import type { Tensor } from '../../../extension/shared/tensor';
import { modelTask, normalizeOptions } from '../../../extension/shared/options';
import { featureExtraction } from '../../../extension/tasks/feature-extraction';
import { modelTypeOfGraph, pipelineFor } from '../../../extension/tasks';
import { speechRecognitionCtc } from '../../../extension/tasks/speech-recognition-ctc';
import { hertzToMel, melToHertz, slaneyMelFilters, whisperLogMel } from '../../../extension/tasks/audio/log-mel';
import { resample } from '../../../extension/tasks/audio/resample';
import {
  MAX_AUDIO_SECONDS,
  speechRecognition,
  speechRecognitionMerged,
  type SpeechRecognitionAssets,
  type SpeechRecognitionOutput,
} from '../../../extension/tasks/speech-recognition';
import type { GraphRunner } from '../../../extension/tasks/types';
import {
  WHISPER_TEXTS,
  whisperGenerationConfig,
  whisperHubFiles,
  whisperMergedHubFiles,
  whisperPreprocessorConfig,
  whisperTestAudio,
  whisperTextIds,
  whisperTokenId,
} from '../../../tools/hub-models/whisper';
import { filesFrom, type HubFiles, nodeRunner, runPipeline } from '../../support/node-pipeline';

const sine = (frequency: number, sampleRate: number, n: number, amplitude = 0.5) =>
  Float32Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
const audio = (samples: Float32Array, sampleRate = 16000): WireInput => ({ kind: 'audio', audio: samples, sampleRate });

// ---- references, written from the definitions ----

/** librosa.filters.mel(sr, n_fft, n_mels, htk=False, norm='slaney'), as librosa writes it (ramps between mel edges). */
function referenceMelFilters(nMels: number, nFft: number, sr: number): number[][] {
  const fSp = 200 / 3,
    minLogHz = 1000,
    minLogMel = minLogHz / fSp,
    logStep = Math.log(6.4) / 27;
  const hzToMel = (f: number) => (f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logStep : f / fSp);
  const melToHz = (m: number) => (m >= minLogMel ? minLogHz * Math.exp(logStep * (m - minLogMel)) : fSp * m);
  const fftFreqs = Array.from({ length: nFft / 2 + 1 }, (_, k) => (k * sr) / nFft);
  const [lo, hi] = [hzToMel(0), hzToMel(sr / 2)];
  const melF = Array.from({ length: nMels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (nMels + 1)));
  return Array.from({ length: nMels }, (_, i) =>
    fftFreqs.map((f) => {
      const lower = (f - melF[i]!) / (melF[i + 1]! - melF[i]!);
      const upper = (melF[i + 2]! - f) / (melF[i + 2]! - melF[i + 1]!);
      return Math.max(0, Math.min(lower, upper)) * (2 / (melF[i + 2]! - melF[i]!));
    }),
  );
}

/** Whisper's log-mel with a naive DFT on every frame (no FFT, no skipped frames). */
function referenceLogMel(x: Float32Array, nSamples: number, filters: number[][]): number[][] {
  const nFft = 400,
    hop = 160,
    half = 200;
  const signal = Array.from({ length: nSamples }, (_, i) => x[i] ?? 0);
  const at = (i: number) => signal[i < 0 ? -i : i >= nSamples ? 2 * (nSamples - 1) - i : i]!; // numpy "reflect"
  const frames = nSamples / hop; // 1 + nSamples/hop frames, the last dropped
  const logSpec = filters.map(() => new Array<number>(frames).fill(0));
  for (let t = 0; t < frames; t++) {
    const power: number[] = [];
    for (let k = 0; k <= nFft / 2; k++) {
      let re = 0,
        im = 0;
      for (let n = 0; n < nFft; n++) {
        const v = at(t * hop + n - half) * (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft));
        re += v * Math.cos((2 * Math.PI * k * n) / nFft);
        im -= v * Math.sin((2 * Math.PI * k * n) / nFft);
      }
      power.push(re * re + im * im);
    }
    filters.forEach((w, m) => {
      logSpec[m]![t] = Math.log10(
        Math.max(
          1e-10,
          w.reduce((s, wk, k) => s + wk * power[k]!, 0),
        ),
      );
    });
  }
  const max = Math.max(...logSpec.flat());
  return logSpec.map((row) => row.map((v) => (Math.max(v, max - 8) + 4) / 4));
}

describe('log-mel', () => {
  test("the Slaney mel scale and filters are librosa's", () => {
    expect(hertzToMel(1000)).toBeCloseTo(15, 12);
    expect(hertzToMel(6400)).toBeCloseTo(42, 12); // 27 mels per factor 6.4 above 1 kHz
    expect(melToHertz(42)).toBeCloseTo(6400, 8);
    expect(melToHertz(hertzToMel(440))).toBeCloseTo(440, 9);
    const ours = slaneyMelFilters(80, 400, 16000);
    const ref = referenceMelFilters(80, 400, 16000);
    let diff = 0;
    ref.forEach((row, m) =>
      row.forEach((v, k) => {
        diff = Math.max(diff, Math.abs(v - ours[m * 201 + k]!));
      }),
    );
    expect(diff).toBeLessThan(1e-7);
    // Every filter has weight somewhere, up to the top one (a wrong mel→Hz inverse leaves the upper half empty).
    expect(ref.every((row) => row.some((v) => v > 0))).toBe(true);
  });

  test.each([
    ['a chirp and silence after it (the padded frames are skipped)', 2000, 4800],
    ['noise longer than the window (cut)', 6000, 4800],
  ])('equals a naive-DFT reference: %s', (_, length, nSamples) => {
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    const x = Float32Array.from({ length }, (_, i) =>
      length < nSamples ? 0.6 * Math.sin(2 * Math.PI * (200 + i) * (i / 16000)) : 0.3 * random(),
    );
    const filters = referenceMelFilters(80, 400, 16000);
    const ref = referenceLogMel(x, nSamples, filters);
    const frames = nSamples / 160;
    const ours = whisperLogMel(x, {
      nFft: 400,
      hop: 160,
      nSamples,
      nFrames: frames,
      nMels: 80,
      melFilters: slaneyMelFilters(80, 400, 16000),
    });
    expect(ours.length).toBe(80 * frames);
    let diff = 0;
    ref.forEach((row, m) =>
      row.forEach((v, t) => {
        diff = Math.max(diff, Math.abs(v - ours[m * frames + t]!));
      }),
    );
    expect(diff).toBeLessThan(1e-4);
    if (length < nSamples) expect(ours[frames - 1]).toBe(ours[79 * frames + frames - 1]); // silent tail: the floor
  });

  test('silence is −1.5 everywhere and a full 30 s window is [80, 3000]', () => {
    const config = {
      nFft: 400,
      hop: 160,
      nSamples: 480000,
      nFrames: 3000,
      nMels: 80,
      melFilters: slaneyMelFilters(80, 400, 16000),
    };
    expect(new Set(whisperLogMel(new Float32Array(16000), config))).toEqual(new Set([-1.5]));
    const tone = whisperLogMel(sine(440, 16000, 480000), config);
    expect(tone.length).toBe(80 * 3000);
    const [min, max] = tone.reduce(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [Infinity, -Infinity]);
    expect(max - min).toBeCloseTo(2, 5); // the floor: (max − (max − 8)) / 4
  });
});

describe('resample', () => {
  /** Largest difference from the ideal sine at the output rate, away from the edges (where the input stops). */
  const errorFromIdeal = (y: Float32Array, frequency: number, rate: number, amplitude = 0.5) => {
    let e = 0;
    for (let j = 400; j < y.length - 400; j++)
      e = Math.max(e, Math.abs(y[j]! - amplitude * Math.sin((2 * Math.PI * frequency * j) / rate)));
    return e;
  };
  const rms = (y: Float32Array) =>
    Math.sqrt(y.subarray(400, y.length - 400).reduce((s, v) => s + v * v, 0) / (y.length - 800));

  test('a 440 Hz sine at 44.1 kHz is the same sine at 16 kHz (frequency, amplitude, phase)', () => {
    const y = resample(sine(440, 44100, 44100), 44100, 16000);
    expect(y.length).toBe(16000);
    expect(errorFromIdeal(y, 440, 16000)).toBeLessThan(1e-3);
    expect(rms(y)).toBeCloseTo(0.5 / Math.SQRT2, 3);
  });

  test('a tone above 8 kHz is removed, not folded back into the band', () => {
    // Dropping or linearly interpolating samples would turn 10 kHz at 44.1 kHz into a loud 6 kHz tone.
    expect(rms(resample(sine(10000, 44100, 44100), 44100, 16000))).toBeLessThan(1e-3);
    expect(rms(resample(sine(9000, 48000, 48000), 48000, 16000))).toBeLessThan(1e-3);
    // A 7 kHz tone is in the pass band (within ~0.5 dB).
    expect(rms(resample(sine(7000, 44100, 44100), 44100, 16000))).toBeGreaterThan(0.33);
  });

  test('upsampling 8 kHz interpolates the band-limited signal; the same rate is a copy', () => {
    expect(errorFromIdeal(resample(sine(1000, 8000, 8000), 8000, 16000), 1000, 16000)).toBeLessThan(1e-3);
    const x = sine(300, 16000, 1000);
    const same = resample(x, 16000, 16000);
    expect(same).toEqual(x);
    expect(same).not.toBe(x);
  });
});

// ---- the pipeline on the test Whisper ----

describe('automatic-speech-recognition on a generated Whisper', () => {
  const hub = whisperHubFiles();
  let assets: SpeechRecognitionAssets;
  let runner: Awaited<ReturnType<typeof nodeRunner>>;
  beforeAll(async () => {
    assets = await speechRecognition.prepare(filesFrom(hub));
    runner = await nodeRunner(speechRecognition, hub);
  });
  afterAll(async () => {
    await runner.release();
  });

  /** Prepared once, sessions once; `graphs` swaps the runner (a wrapped one, to watch or break what it is fed). */
  const transcribe = async (input: WireInput, options: Record<string, unknown> = {}, graphs: GraphRunner = runner) =>
    (await speechRecognition.run(assets, input, normalizeOptions(options, 'run'), graphs)) as SpeechRecognitionOutput;

  test('declares the hub files and options of Xenova/whisper-tiny', () => {
    expect(speechRecognition).toMatchObject({
      task: 'automatic-speech-recognition',
      modality: 'audio',
      runOptions: ['maxNewTokens', 'language', 'returnTimestamps'],
      decodingTasks: ['transcribe', 'translate'],
      graphs: {
        encoder: 'onnx/encoder_model.onnx',
        decoder: 'onnx/decoder_model.onnx',
        decoderWithPast: 'onnx/decoder_with_past_model.onnx',
      },
    });
  });

  test.each([
    ['silence at 16 kHz', whisperTestAudio('silence', 16000), 16000, WHISPER_TEXTS.en.silence],
    ['a 440 Hz tone at 44.1 kHz', whisperTestAudio('low', 44100), 44100, WHISPER_TEXTS.en.low],
    ['a 5 kHz tone at 48 kHz', whisperTestAudio('high', 48000), 48000, WHISPER_TEXTS.en.high],
    ['a 440 Hz tone at 8 kHz, 0.3 s', whisperTestAudio('low', 8000, 0.3), 8000, WHISPER_TEXTS.en.low],
  ])('%s → its text', async (_, samples, rate, text) => {
    const out = await transcribe(audio(samples, rate));
    expect(out).toEqual({ text, tokens: whisperTextIds(text) });
  });

  test('the prompt goes through decoder once, every later token through decoder_with_past', async () => {
    const { output, calls } = await runPipeline(speechRecognition, hub, audio(whisperTestAudio('low')));
    const { tokens } = output as SpeechRecognitionOutput;
    expect(tokens.length).toBe(4);
    // Token 1 from decoder; tokens 2–4 and the end of text from decoder_with_past.
    expect(calls).toEqual({ encoder: 1, decoder: 1, decoderWithPast: 4 });
  });

  test('each step feeds exactly the declared inputs, with the self-attention cache one longer each time', async () => {
    const seen: { role: string; names: string[]; pastLength?: number; ids: number[] }[] = [];
    const watching: GraphRunner = {
      signal: runner.signal,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        seen.push({
          role,
          names: Object.keys(feeds).sort(),
          pastLength: feeds['past_key_values.0.decoder.key']?.dims[2],
          ids: feeds.input_ids ? Array.from(feeds.input_ids.data as BigInt64Array, Number) : [],
        });
        return runner.run(role, feeds);
      },
    };
    const out = await transcribe(audio(whisperTestAudio('silence')), {}, watching);
    for (const step of seen)
      expect(step.names).toEqual(
        runner
          .io(step.role)
          .inputs.map((i) => i.name)
          .sort(),
      );
    const id = (t: string) => whisperTokenId(t);
    expect(seen[1]!.ids).toEqual([
      id('<|startoftranscript|>'),
      id('<|en|>'),
      id('<|transcribe|>'),
      id('<|notimestamps|>'),
    ]);
    expect(seen.slice(2).map((s) => s.pastLength)).toEqual([4, 5, 6, 7]);
    expect(seen.slice(2).map((s) => s.ids)).toEqual(out.tokens.map((t) => [t]));
  });

  test('a cache that does not grow gives another text (the test model reads the step from the cache)', async () => {
    let first: Record<string, Tensor> | undefined;
    const stale: GraphRunner = {
      signal: runner.signal,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        if (role !== 'decoderWithPast') return runner.run(role, feeds);
        first ??= feeds;
        return runner.run(role, { ...first, input_ids: feeds.input_ids! });
      },
    };
    const out = await transcribe(audio(whisperTestAudio('silence')), { maxNewTokens: 6 }, stale);
    expect(out.text).not.toBe(WHISPER_TEXTS.en.silence);
    expect(out.tokens.length).toBe(6);
  });

  test('maxNewTokens stops generation early', async () => {
    const { output, calls } = await runPipeline(speechRecognition, hub, audio(whisperTestAudio('silence')), {
      maxNewTokens: 2,
    });
    expect(output).toEqual({ text: 'Nothing to', tokens: whisperTextIds(WHISPER_TEXTS.en.silence).slice(0, 2) });
    expect(calls.decoderWithPast).toBe(1);
    expect((await transcribe(audio(whisperTestAudio('low')), { max_new_tokens: 1 })).text).toBe('A');
  });

  test("maxNewTokens beyond the decoder's 448 positions minus the prompt is refused", async () => {
    await expect(transcribe(audio(whisperTestAudio('low')), { maxNewTokens: 445 })).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/at most 444/),
    });
  });

  test('language picks its token: German and French texts', async () => {
    expect((await transcribe(audio(whisperTestAudio('low')), { language: 'de' })).text).toBe(WHISPER_TEXTS.de.low);
    expect((await transcribe(audio(whisperTestAudio('high')), { language: 'fr' })).text).toBe(WHISPER_TEXTS.fr.high);
    expect((await transcribe(audio(whisperTestAudio('silence')), { language: 'en' })).text).toBe(
      WHISPER_TEXTS.en.silence,
    );
  });

  test('a language the model has no token for is a DataError listing the ones it has', async () => {
    await expect(transcribe(audio(whisperTestAudio('low')), { language: 'ja' })).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/language "ja".*en, de, fr/),
    });
  });

  test("suppress_tokens and begin_suppress_tokens are applied (the model's top logits are those tokens)", async () => {
    const withGeneration = (change: Record<string, unknown>): HubFiles => ({
      ...hub,
      'generation_config.json': JSON.stringify({ ...whisperGenerationConfig(), ...change }),
    });
    const noBegin = (
      await runPipeline(
        speechRecognition,
        withGeneration({ begin_suppress_tokens: [] }),
        audio(whisperTestAudio('low')),
      )
    ).output;
    expect(noBegin).toEqual({ text: '', tokens: [] }); // <|endoftext|> first
    const noSuppress = (
      await runPipeline(speechRecognition, withGeneration({ suppress_tokens: [] }), audio(whisperTestAudio('low')))
    ).output as SpeechRecognitionOutput;
    expect(noSuppress.text).toMatch(/^A#/);
  });

  test('mel_filters from preprocessor_config.json are used when present', async () => {
    const withFilters = (filters: number[][]): HubFiles => ({
      ...hub,
      'preprocessor_config.json': JSON.stringify({ ...whisperPreprocessorConfig(), mel_filters: filters }),
    });
    const bank = slaneyMelFilters(80, 400, 16000);
    // transformers writes the bank as [n_freqs][n_mels].
    const transposed = Array.from({ length: 201 }, (_, k) => Array.from({ length: 80 }, (_, m) => bank[m * 201 + k]!));
    const same = await runPipeline(speechRecognition, withFilters(transposed), audio(whisperTestAudio('high')));
    expect((same.output as SpeechRecognitionOutput).text).toBe(WHISPER_TEXTS.en.high);
    // With an empty bank every frame is the silence floor, so the tone reads as silence.
    const empty = await runPipeline(
      speechRecognition,
      withFilters(Array.from({ length: 80 }, () => new Array(201).fill(0))),
      audio(whisperTestAudio('high')),
    );
    expect((empty.output as SpeechRecognitionOutput).text).toBe(WHISPER_TEXTS.en.silence);
  });

  test('exactly 30 s is one window; MAX_AUDIO_SECONDS and one sample more is a DataError, at any rate', async () => {
    const counting = await nodeRunner(speechRecognition, hub);
    try {
      expect((await transcribe(audio(whisperTestAudio('low', 16000, 30)), {}, counting)).text).toBe(
        WHISPER_TEXTS.en.low,
      );
      expect(counting.calls.encoder).toBe(1);
    } finally {
      await counting.release();
    }
    await expect(transcribe(audio(new Float32Array(16000 * MAX_AUDIO_SECONDS + 1)))).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/300\.00 s long.*at most 300 s/),
    });
    await expect(transcribe(audio(new Float32Array(44100 * MAX_AUDIO_SECONDS + 1), 44100))).rejects.toMatchObject({
      name: 'DataError',
    });
  });

  test.each<[string, WireInput, RegExp]>([
    ['text input', { kind: 'text', text: ['hello'], batched: false }, /takes audio.*got text input/],
    ['tensors input', { kind: 'tensors', tensors: {} }, /takes audio.*got tensors input/],
    [
      'sampleRate 0',
      audio(new Float32Array(100), 0),
      /sampleRate must be an integer number of Hz from 1000 to 384000, got 0/,
    ],
    ['sampleRate 44100.5', audio(new Float32Array(100), 44100.5), /sampleRate.*got 44100.5/],
    ['sampleRate 500', audio(new Float32Array(100), 500), /sampleRate/],
    ['sampleRate 1e6', audio(new Float32Array(100), 1e6), /sampleRate/],
    ['sampleRate NaN', audio(new Float32Array(100), NaN), /sampleRate/],
    ['a NaN sample', audio(Float32Array.of(0, 0.1, 0.2, NaN, 0)), /audio\[3\] is NaN; samples must be finite/],
    ['an infinite sample', audio(Float32Array.of(0, -Infinity)), /audio\[1\] is -Infinity/],
    ['no samples', audio(new Float32Array(0)), /non-empty/],
  ])('%s is a DataError', async (_, input, message) => {
    await expect(transcribe(input)).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(message),
    });
  });

  test('an aborted request stops between decoding steps with AbortError', async () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const aborting: GraphRunner = {
      signal: controller.signal,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        calls.push(role);
        const out = await runner.run(role, feeds);
        if (role === 'decoderWithPast') controller.abort();
        return out;
      },
    };
    await expect(transcribe(audio(whisperTestAudio('low')), {}, aborting)).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(calls).toEqual(['encoder', 'decoder', 'decoderWithPast']);
  });

  test('weights rewritten to 4 bits (MatMulNBits) give the same texts', async () => {
    const policy = makePolicy({ bits: 4, groupSize: 32 });
    const graphs: Record<string, Uint8Array> = {};
    for (const [role, file] of Object.entries(speechRecognition.graphs)) {
      const prepared = prepareModel(hub[file] as Uint8Array, policy);
      expect(prepared.report.weights.filter((w) => w.format === 'MatMulNBits').length).toBeGreaterThan(0);
      graphs[role] = prepared.bytes;
    }
    for (const [lang, sound] of [
      ['en', 'silence'],
      ['en', 'low'],
      ['de', 'high'],
    ] as const) {
      const { output } = await runPipeline(
        speechRecognition,
        hub,
        audio(whisperTestAudio(sound, 44100), 44100),
        { language: lang },
        graphs,
      );
      expect((output as SpeechRecognitionOutput).text).toBe(WHISPER_TEXTS[lang][sound]);
    }
  });
});

describe('model files', () => {
  const prepare = (hub: HubFiles) => speechRecognition.prepare(filesFrom(hub));
  const replace = (name: string, contents: string | undefined): HubFiles => {
    const hub = { ...whisperHubFiles() };
    if (contents === undefined) delete hub[name];
    else hub[name] = contents;
    return hub;
  };

  test.each(['tokenizer.json', 'generation_config.json', 'preprocessor_config.json'])(
    'a missing %s is a NotFoundError naming it',
    async (name) => {
      await expect(prepare(replace(name, undefined))).rejects.toMatchObject({
        name: 'NotFoundError',
        message: expect.stringContaining(name),
      });
    },
  );

  test('tokenizer_config.json and config.json are optional', async () => {
    const { 'tokenizer_config.json': _a, 'config.json': _b, ...hub } = whisperHubFiles();
    const { output } = await runPipeline(speechRecognition, hub, audio(whisperTestAudio('low')));
    expect((output as SpeechRecognitionOutput).text).toBe(WHISPER_TEXTS.en.low);
  });

  const generation = (change: Record<string, unknown>) => JSON.stringify({ ...whisperGenerationConfig(), ...change });
  const preprocessor = (change: Record<string, unknown>) =>
    JSON.stringify({ ...whisperPreprocessorConfig(), ...change });
  test.each<[string, string, string, RegExp]>([
    ['tokenizer.json', 'an unknown model type', '{"model": {"type": "Nonsense"}}', /tokenizer\.json cannot be used/],
    ['tokenizer.json', 'an array', '[1, 2]', /tokenizer\.json must hold a JSON object/],
    ['generation_config.json', 'not JSON', '{not json', /generation_config\.json is not valid JSON/],
    [
      'generation_config.json',
      'eos_token_id "x"',
      generation({ eos_token_id: 'x' }),
      /generation_config\.json has no eos_token_id/,
    ],
    [
      'generation_config.json',
      'no no_timestamps_token_id',
      generation({ no_timestamps_token_id: undefined }),
      /no_timestamps_token_id/,
    ],
    [
      'generation_config.json',
      'a string in suppress_tokens',
      generation({ suppress_tokens: [1, 'a'] }),
      /suppress_tokens must be an array of token ids/,
    ],
    [
      'generation_config.json',
      'languages without task_to_id',
      generation({ task_to_id: {} }),
      /task_to_id\.transcribe/,
    ],
    [
      'preprocessor_config.json',
      'n_fft "x"',
      preprocessor({ n_fft: 'x' }),
      /preprocessor_config\.json n_fft must be an integer/,
    ],
    [
      'preprocessor_config.json',
      'n_samples 1000',
      preprocessor({ n_samples: 1000 }),
      /n_samples 1000 is not chunk_length × sampling_rate/,
    ],
    [
      'preprocessor_config.json',
      'mel_filters 1 × 2',
      preprocessor({ mel_filters: [[1, 2]] }),
      /mel_filters must be 80 × 201/,
    ],
  ])('a bad %s is a DataError naming it: %s', async (name, _, contents, message) => {
    await expect(prepare(replace(name, contents))).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(message),
    });
  });

  test("features that do not match the encoder's input are a DataError", async () => {
    const hub = replace(
      'preprocessor_config.json',
      JSON.stringify({ ...whisperPreprocessorConfig(), feature_size: 128 }),
    );
    await expect(runPipeline(speechRecognition, hub, audio(whisperTestAudio('low')))).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/input_features \[batch, 80, 3000\].*128 × 3000/),
    });
  });
});

// ---- beyond one window, timestamps, translate (issue 18) ----

/**
 * Greedy decoding of one window written from Whisper's definition, apart from the pipeline: the whole prefix through
 * decoder_model at every step (no cache), the config's suppressions, and — with timestamps — openai/whisper's rules
 * as written here. Gives the generated ids, timestamps included.
 */
async function referenceWindow(
  { encoder, decoder }: Record<'encoder' | 'decoder', ort.InferenceSession>,
  assets: SpeechRecognitionAssets,
  samples: Float32Array,
  prompt: number[],
  timestamps: boolean,
): Promise<number[]> {
  const config = whisperGenerationConfig();
  const begin = (config.no_timestamps_token_id as number) + 1;
  const eos = config.eos_token_id as number;
  const { nMels, nFrames } = assets.features;
  const features = new ort.Tensor('float32', whisperLogMel(samples, assets.features), [1, nMels, nFrames]);
  const hidden = (await encoder.run({ input_features: features })).last_hidden_state!;
  const generated: number[] = [];
  for (let step = 0; step < 64; step++) {
    const ids = [...prompt, ...generated];
    const input = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
    const out = (await decoder.run({ input_ids: input, encoder_hidden_states: hidden })).logits!;
    const v = out.dims[2]!;
    const row = Array.from((out.data as Float32Array).slice((ids.length - 1) * v, ids.length * v));
    const banned = new Set<number>(config.suppress_tokens as number[]);
    if (step === 0) for (const id of config.begin_suppress_tokens as number[]) banned.add(id);
    if (timestamps) {
      banned.add(config.no_timestamps_token_id as number);
      const isTs = (id?: number) => id !== undefined && id >= begin;
      const text = (id: number) => id < begin;
      const stamps = generated.filter(isTs);
      for (let id = 0; id < v; id++) {
        if (step === 0 && text(id)) banned.add(id);
        if (step === 0 && id > begin + (config.max_initial_timestamp_index as number)) banned.add(id);
        const [last, penultimate] = [generated.at(-1), generated.at(-2)];
        if (isTs(last) && (generated.length < 2 || isTs(penultimate)) && isTs(id)) banned.add(id);
        if (isTs(last) && generated.length >= 2 && !isTs(penultimate) && text(id) && id !== eos) banned.add(id);
        const floor =
          stamps.length === 0 ? begin : isTs(last) && !isTs(penultimate) ? stamps.at(-1)! : stamps.at(-1)! + 1;
        if (isTs(id) && id < floor) banned.add(id);
      }
      const open = row.map((x, id) => (banned.has(id) ? -Infinity : x));
      const stampMass = Math.log(open.slice(begin).reduce((s, x) => s + Math.exp(x), 0));
      if (stampMass > Math.max(...open.slice(0, begin))) for (let id = 0; id < begin; id++) banned.add(id);
    }
    let best = -1;
    for (let id = 0; id < v; id++) if (!banned.has(id) && (best < 0 || row[id]! > row[best]!)) best = id;
    if (best === eos) break;
    generated.push(best);
  }
  return generated;
}

/** `<|t0|> text <|t1|>` … as chunks, by hand: times from the ids, `offset` added, text through the tokenizer. */
async function referenceChunks(assets: SpeechRecognitionAssets, ids: number[], offset: number, windowEnd: number) {
  const begin = whisperTokenId('<|0.00|>');
  const chunks: { text: string; timestamp: [number, number] }[] = [];
  let start = offset;
  let text: number[] = [];
  const time = (id: number) => Math.min(windowEnd, Math.round((offset + (id - begin) * 0.02) * 100) / 100);
  for (const id of ids) {
    if (id < begin) text.push(id);
    else if (text.length === 0) start = time(id);
    else {
      chunks.push({
        text: (await assets.tokenizer.decode(text, { skipSpecialTokens: true })).trim(),
        timestamp: [start, time(id)],
      });
      text = [];
    }
  }
  if (text.length)
    chunks.push({
      text: (await assets.tokenizer.decode(text, { skipSpecialTokens: true })).trim(),
      timestamp: [start, windowEnd],
    });
  return chunks;
}

const concat = (...parts: Float32Array[]) => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
const seconds = (s: number) => new Float32Array(Math.round(16000 * s));

describe('Whisper beyond one window: long audio, timestamps, translate', () => {
  const hub = whisperHubFiles();
  let assets: SpeechRecognitionAssets;
  let sessions: Record<'encoder' | 'decoder', ort.InferenceSession>;
  beforeAll(async () => {
    assets = await speechRecognition.prepare(filesFrom(hub));
    sessions = {
      encoder: await ort.InferenceSession.create(hub['onnx/encoder_model.onnx'] as Uint8Array),
      decoder: await ort.InferenceSession.create(hub['onnx/decoder_model.onnx'] as Uint8Array),
    };
  });
  afterAll(async () => {
    await sessions.encoder.release();
    await sessions.decoder.release();
  });
  const id = (t: string) => whisperTokenId(t);
  const prompt = (language: 'en' | 'de' | 'fr', task = '<|transcribe|>', timestamps = false) => [
    id('<|startoftranscript|>'),
    id(`<|${language}|>`),
    id(task),
    ...(timestamps ? [] : [id('<|notimestamps|>')]),
  ];
  const run = (samples: Float32Array, options: Record<string, unknown> = {}, h: HubFiles = hub) =>
    runPipeline(speechRecognition, h, audio(samples), options) as Promise<{
      output: SpeechRecognitionOutput;
      calls: Record<string, number>;
    }>;

  test('70 s in three windows (low, silence, high): each window as decoded alone, joined with nothing repeated', async () => {
    const samples = concat(whisperTestAudio('low', 16000, 18), seconds(34), whisperTestAudio('high', 16000, 18));
    const windows = [0, 20, 40].map((s) => samples.subarray(16000 * s, 16000 * (s + 30)));
    const alone = await Promise.all(windows.map((w) => referenceWindow(sessions, assets, w, prompt('en'), false)));
    expect(alone).toEqual([WHISPER_TEXTS.en.low, WHISPER_TEXTS.en.silence, WHISPER_TEXTS.en.high].map(whisperTextIds));
    const { output, calls } = await run(samples);
    expect(calls.encoder).toBe(3);
    expect(output).toEqual({
      text: `${WHISPER_TEXTS.en.low} ${WHISPER_TEXTS.en.silence} ${WHISPER_TEXTS.en.high}`,
      tokens: alone.flat(),
    });
    // With timestamps: each window's chunks as decoded alone, offset by the window's start.
    const stamped = await run(samples, { returnTimestamps: true });
    const expected = [];
    for (const [k, w] of windows.entries()) {
      const ids = await referenceWindow(sessions, assets, w, prompt('en', '<|transcribe|>', true), true);
      expected.push(...(await referenceChunks(assets, ids, 20 * k, 20 * k + w.length / 16000)));
    }
    expect(stamped.output.chunks).toEqual(expected);
    expect(stamped.output.text).toBe(output.text);
    // The low tone stops at 18 s, the high one at the audio's end.
    expect(stamped.output.chunks![0]!.timestamp[1]).toBeCloseTo(18, 1);
    expect(stamped.output.chunks![2]!.timestamp[1]).toBe(70);
  }, 30_000);

  test('45 s of one tone: both windows say it, the join says it once, in one chunk from 0 to 45 s', async () => {
    const { output, calls } = await run(whisperTestAudio('low', 16000, 45), { returnTimestamps: true });
    expect(calls.encoder).toBe(2);
    expect(output).toEqual({
      text: WHISPER_TEXTS.en.low,
      tokens: whisperTextIds(WHISPER_TEXTS.en.low),
      chunks: [{ text: WHISPER_TEXTS.en.low, timestamp: [0, expect.closeTo(45, 1)] }],
    });
  }, 15_000);

  test.each<[string, Float32Array, 'en' | 'de' | 'fr', string, number]>([
    ['a 5 kHz tone of 12.34 s', whisperTestAudio('high', 16000, 12.34), 'en', '<|transcribe|>', 12.34],
    [
      '5 s of 440 Hz, then 5 s of silence',
      concat(whisperTestAudio('low', 16000, 5), seconds(5)),
      'de',
      '<|transcribe|>',
      5,
    ],
    ['3 s of silence', seconds(3), 'fr', '<|transcribe|>', 3],
    ['7 s of 440 Hz, translated from French', whisperTestAudio('low', 16000, 7), 'fr', '<|translate|>', 7],
  ])(
    'timestamps, %s: the chunks of an independent decoding, ending where the sound does',
    async (_, samples, language, task, end) => {
      const ids = await referenceWindow(sessions, assets, samples, prompt(language, task, true), true);
      const expected = await referenceChunks(assets, ids, 0, samples.length / 16000);
      const options = { returnTimestamps: true, language, ...(task === '<|translate|>' && { task: 'translate' }) };
      const { output } = await run(samples, options);
      expect(output.chunks).toEqual(expected);
      expect(output.chunks).toHaveLength(1);
      expect(output.chunks![0]!.timestamp[0]).toBe(0);
      expect(Math.abs(output.chunks![0]!.timestamp[1] - end)).toBeLessThanOrEqual(0.06);
      expect(output.text).toBe(output.chunks![0]!.text);
    },
  );

  test("task: 'translate' decodes with <|translate|>: English whatever the language; 'transcribe' is the default", async () => {
    const fr = await run(whisperTestAudio('high'), { task: 'translate', language: 'fr' });
    expect(fr.output).toEqual({ text: WHISPER_TEXTS.en.high, tokens: whisperTextIds(WHISPER_TEXTS.en.high) });
    const ids = await referenceWindow(sessions, assets, whisperTestAudio('high'), prompt('fr', '<|translate|>'), false);
    expect(fr.output.tokens).toEqual(ids);
    expect((await run(whisperTestAudio('low'), { task: 'translate', language: 'de' })).output.text).toBe(
      WHISPER_TEXTS.en.low,
    );
    expect((await run(whisperTestAudio('low'), { task: 'transcribe', language: 'de' })).output.text).toBe(
      WHISPER_TEXTS.de.low,
    );
    expect((await run(whisperTestAudio('low'), { language: 'de' })).output.text).toBe(WHISPER_TEXTS.de.low);
  });

  test('translate without task_to_id.translate, or on an English-only model, is a NotSupportedError', async () => {
    const generation = whisperGenerationConfig();
    const noTranslate: HubFiles = {
      ...hub,
      'generation_config.json': JSON.stringify({ ...generation, task_to_id: { transcribe: id('<|transcribe|>') } }),
    };
    await expect(run(whisperTestAudio('low'), { task: 'translate' }, noTranslate)).rejects.toMatchObject({
      name: 'NotSupportedError',
      message: expect.stringMatching(/task_to_id\.translate/),
    });
    expect((await run(whisperTestAudio('low'), {}, noTranslate)).output.text).toBe(WHISPER_TEXTS.en.low);
    const englishOnly: HubFiles = {
      ...hub,
      'generation_config.json': JSON.stringify({ ...generation, lang_to_id: undefined, task_to_id: undefined }),
    };
    await expect(run(whisperTestAudio('low'), { task: 'translate' }, englishOnly)).rejects.toMatchObject({
      name: 'NotSupportedError',
      message: expect.stringMatching(/task "translate".*English-only/),
    });
  });

  test('returnTimestamps on a vocab with no timestamp tokens is a NotSupportedError', async () => {
    const last = JSON.parse(hub['config.json'] as string).vocab_size - 1;
    const noStamps: HubFiles = {
      ...hub,
      'generation_config.json': JSON.stringify({ ...whisperGenerationConfig(), no_timestamps_token_id: last }),
    };
    await expect(run(whisperTestAudio('low'), { returnTimestamps: true }, noStamps)).rejects.toMatchObject({
      name: 'NotSupportedError',
      message: expect.stringMatching(/returnTimestamps/),
    });
  });

  test('option errors name the option', () => {
    expect(() => normalizeOptions({ returnTimestamps: 'yes' }, 'run')).toThrow(
      /option returnTimestamps must be true or false/,
    );
    expect(normalizeOptions({ return_timestamps: true }, 'run')).toEqual({ returnTimestamps: true });
    expect(() => normalizeOptions({ returnTimestamps: true }, 'load')).toThrow(/returnTimestamps is a run option/);
    expect(() => normalizeOptions({ task: 'translation' }, 'run')).toThrow(/option task must be one of .*"translate"/);
    expect(() => normalizeOptions({ task: 'translate' }, 'load')).toThrow(
      /option task "translate".*pass it to run\(\)/,
    );
    expect(normalizeOptions({ task: 'translate' }, 'run')).toEqual({ task: 'translate' });
    expect(modelTask('translate')).toBeUndefined();
    expect(modelTask('automatic-speech-recognition')).toBe('automatic-speech-recognition');
    // task: 'translate' belongs to Whisper only: CTC speech recognition, other tasks and raw models refuse it.
    const options = normalizeOptions({ task: 'translate' }, 'run');
    expect(() => checkOptions(options, speechRecognition, true)).not.toThrow();
    expect(() => checkOptions(options, speechRecognitionCtc, true)).toThrow(
      /option task "translate" applies to Whisper.*CTC/,
    );
    expect(() => checkOptions(options, featureExtraction, true)).toThrow(/option task "translate".*feature-extraction/);
    expect(() => checkOptions(options, null, false)).toThrow(/option task "translate".*raw ONNX model/);
    expect(() => checkOptions({ returnTimestamps: true }, speechRecognitionCtc, true)).toThrow(
      /option returnTimestamps does not apply/,
    );
  });

  test('an aborted request stops between windows', async () => {
    const runner = await nodeRunner(speechRecognition, hub);
    const controller = new AbortController();
    const encoded: number[] = [];
    let steps = 0;
    const aborting: GraphRunner = {
      signal: controller.signal,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        if (role === 'encoder') encoded.push(encoded.length);
        const out = await runner.run(role, feeds);
        // The first window's last step (3 more words, then the end of text): its decoding is done when it aborts.
        if (role === 'decoderWithPast' && ++steps === whisperTextIds(WHISPER_TEXTS.en.low).length) controller.abort();
        return out;
      },
    };
    try {
      await expect(
        speechRecognition.run(assets, audio(whisperTestAudio('low', 16000, 45)), {}, aborting),
      ).rejects.toMatchObject({ name: 'AbortError' });
      expect(encoded).toEqual([0]);
    } finally {
      await runner.release();
    }
  });
});

describe('Whisper with the merged decoder only (decoder_model_merged.onnx)', () => {
  const split = whisperHubFiles();
  const merged = whisperMergedHubFiles();

  test('the repo has the merged graph and not the two decoders; it is one If on use_cache_branch', () => {
    expect(Object.keys(merged).filter((f) => f.startsWith('onnx/'))).toEqual([
      'onnx/encoder_model.onnx',
      'onnx/decoder_model_merged.onnx',
    ]);
    const graph = onnx.ModelProto.decode(merged['onnx/decoder_model_merged.onnx'] as Uint8Array).graph!;
    expect(graph.node!.map((n) => n.opType)).toEqual(['If']);
    expect(graph.input!.map((i) => i.name)).toContain('use_cache_branch');
    // A registry entry says modelType 'whisper-merged'; a page's URL names the merged file.
    expect(pipelineFor('automatic-speech-recognition', 'whisper-merged')).toBe(speechRecognitionMerged);
    const url = new URL('https://cdn.example/w/onnx/decoder_model_merged_quantized.onnx');
    expect(modelTypeOfGraph('automatic-speech-recognition', url)).toBe('whisper-merged');
  });

  test.each<[string, Float32Array, Record<string, unknown>]>([
    ['45 s with timestamps, in German', whisperTestAudio('low', 16000, 45), { returnTimestamps: true, language: 'de' }],
    ['1 s translated from French', whisperTestAudio('high'), { task: 'translate', language: 'fr' }],
    ['silence, 2 new tokens at most', whisperTestAudio('silence'), { maxNewTokens: 2 }],
  ])('%s: what the two decoders give, every step on the merged graph', async (_, samples, options) => {
    const expected = await runPipeline(speechRecognition, split, audio(samples), options);
    const got = await runPipeline(speechRecognitionMerged, merged, audio(samples), options);
    expect(got.output).toEqual(expected.output);
    expect(got.calls.decoder).toBe(expected.calls.decoder! + expected.calls.decoderWithPast!);
    expect(got.calls.decoderWithPast).toBeUndefined();
  });

  test('the first step takes the no-cache branch with an empty past, the next ones the cache branch', async () => {
    const assets = await speechRecognitionMerged.prepare(filesFrom(merged));
    const runner = await nodeRunner(speechRecognitionMerged, merged);
    const seen: { branch: number; past: number | undefined }[] = [];
    const watching: GraphRunner = {
      signal: runner.signal,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        if (role === 'decoder')
          seen.push({
            branch: (feeds.use_cache_branch!.data as Uint8Array)[0]!,
            past: feeds['past_key_values.1.decoder.value']!.dims[2],
          });
        return runner.run(role, feeds);
      },
    };
    try {
      await speechRecognitionMerged.run(assets, audio(whisperTestAudio('low')), {}, watching);
    } finally {
      await runner.release();
    }
    expect(seen).toEqual([
      { branch: 0, past: 0 },
      { branch: 1, past: 4 },
      { branch: 1, past: 5 },
      { branch: 1, past: 6 },
      { branch: 1, past: 7 },
    ]);
  });

  test("webq's quantizer rewrites the MatMuls inside the If branches; the 4-bit merged graph says the same", async () => {
    const policy = makePolicy({ bits: 4, groupSize: 32 });
    const prepared = prepareModel(merged['onnx/decoder_model_merged.onnx'] as Uint8Array, policy);
    const perGraph: Record<string, number> = {};
    forEachGraph(onnx.ModelProto.decode(prepared.bytes).graph!, (g) => {
      perGraph[g.name!] = (g.node ?? []).filter((n) => n.opType === 'MatMulNBits').length;
    });
    // Each branch as many as its decoder gets quantized on its own.
    const alone = (file: string) =>
      onnx.ModelProto.decode(prepareModel(split[file] as Uint8Array, policy).bytes).graph!.node!.filter(
        (n) => n.opType === 'MatMulNBits',
      ).length;
    expect(perGraph).toEqual({
      whisper_decoder_merged: 0,
      'with_past/branch': alone('onnx/decoder_with_past_model.onnx'),
      'no_past/branch': alone('onnx/decoder_model.onnx'),
    });
    expect(perGraph['no_past/branch']).toBeGreaterThan(0);
    const { output } = await runPipeline(
      speechRecognitionMerged,
      merged,
      audio(whisperTestAudio('high', 44100), 44100),
      { language: 'fr' },
      { decoder: prepared.bytes },
    );
    expect((output as SpeechRecognitionOutput).text).toBe(WHISPER_TEXTS.fr.high);
  });
});
