/**
 * automatic-speech-recognition by CTC (wav2vec2-base-960h): the pipeline on a generated wav2vec2-shaped model
 * (tools/hub-models/wav2vec2.ts) on onnxruntime-node's CPU EP, against a reference written from the definitions
 * (tests/support/ctc-reference.ts: the feature extractor's normalisation, the graph run directly, greedy CTC
 * decoding), and the errors a page or a model's files can cause.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveModel } from '../../../extension/host/resolve';
import { prepareModel } from '../../../extension/host/prepare';
import { registryEntry } from '../../../extension/models/registry';
import { makePolicy } from '../../../extension/onnx/index';
import { normalizeOptions } from '../../../extension/shared/options';
import type { WireInput } from '../../../extension/shared/protocol';
import { modelTypeOfGraph, pipelineFor } from '../../../extension/tasks';
import { speechRecognition, type SpeechRecognitionOutput } from '../../../extension/tasks/speech-recognition';
import { type CtcAssets, speechRecognitionCtc } from '../../../extension/tasks/speech-recognition-ctc';
import type { GraphRunner } from '../../../extension/tasks/types';
import {
  WAV2VEC2_TEXTS,
  WAV2VEC2_VOCAB,
  wav2vec2HubFiles,
  wav2vec2TestAudio,
  wav2vec2TextIds,
} from '../../../tools/hub-models/wav2vec2';
import { referenceCtcTranscript } from '../../support/ctc-reference';
import { filesFrom, type HubFiles, nodeRunner, runPipeline } from '../../support/node-pipeline';

const audio = (samples: Float32Array, sampleRate = 16000): WireInput => ({ kind: 'audio', audio: samples, sampleRate });
const hub = wav2vec2HubFiles();

describe('automatic-speech-recognition by CTC on a generated wav2vec2', () => {
  let assets: CtcAssets;
  let runner: Awaited<ReturnType<typeof nodeRunner>>;
  beforeAll(async () => {
    assets = await speechRecognitionCtc.prepare(filesFrom(hub));
    runner = await nodeRunner(speechRecognitionCtc, hub);
  });
  afterAll(async () => {
    await runner.release();
  });

  const transcribe = async (input: WireInput, options: Record<string, unknown> = {}, graphs: GraphRunner = runner) =>
    (await speechRecognitionCtc.run(
      assets,
      input,
      normalizeOptions(options, 'run'),
      graphs,
    )) as SpeechRecognitionOutput;

  test('declares the hub files of Xenova/wav2vec2-base-960h and takes no run options', () => {
    expect(speechRecognitionCtc).toMatchObject({
      task: 'automatic-speech-recognition',
      modality: 'audio',
      runOptions: [],
      graphs: { model: 'onnx/model.onnx' },
    });
  });

  test.each([
    ['HELLO WORLD at 16 kHz (a repeated letter, a word delimiter)', WAV2VEC2_TEXTS.hello, 16000],
    ["IT'S A QUIZ at 44.1 kHz (resampled)", WAV2VEC2_TEXTS.quote, 44100],
    ['HELLO WORLD at 8 kHz (upsampled)', WAV2VEC2_TEXTS.hello, 8000],
  ])('%s → its text and ids, as the reference decodes them', async (_, text, rate) => {
    const out = await transcribe(audio(wav2vec2TestAudio(text, rate), rate));
    expect(out).toEqual({ text, tokens: wav2vec2TextIds(text) });
    if (rate === 16000) {
      const graph = hub['onnx/model.onnx'] as Uint8Array;
      expect(await referenceCtcTranscript(wav2vec2TestAudio(text), graph, WAV2VEC2_VOCAB)).toEqual(out);
    }
  });

  test('the samples are normalised: the quiet test audio is heard only then (do_normalize false: nothing)', async () => {
    const quiet = audio(wav2vec2TestAudio(WAV2VEC2_TEXTS.hello));
    const raw = await speechRecognitionCtc.prepare(
      filesFrom({
        ...hub,
        'preprocessor_config.json': JSON.stringify({
          ...JSON.parse(hub['preprocessor_config.json'] as string),
          do_normalize: false,
        }),
      }),
    );
    expect(await speechRecognitionCtc.run(raw, quiet, normalizeOptions({}, 'run'), runner)).toEqual({
      text: '',
      tokens: [],
    });
    // Louder, the same text with or without normalisation; a DC offset changes nothing after it.
    const loud = wav2vec2TestAudio(WAV2VEC2_TEXTS.hello, 16000, 0.8);
    const heard = (await speechRecognitionCtc.run(
      raw,
      audio(loud),
      normalizeOptions({}, 'run'),
      runner,
    )) as SpeechRecognitionOutput;
    expect(heard.text).toBe(WAV2VEC2_TEXTS.hello);
    expect((await transcribe(audio(loud.map((v) => v + 0.3)))).text).toBe(WAV2VEC2_TEXTS.hello);
  });

  test('silence (all zeros) is the empty text, not a NaN from the normalisation', async () => {
    expect(await transcribe(audio(new Float32Array(16000)))).toEqual({ text: '', tokens: [] });
  });

  test('weights rewritten to 4 bits (MatMulNBits) give the same text', async () => {
    const prepared = prepareModel(hub['onnx/model.onnx'] as Uint8Array, makePolicy({ bits: 4, groupSize: 32 }));
    expect(prepared.report.weights.filter((w) => w.format === 'MatMulNBits').length).toBeGreaterThan(0);
    const { output } = await runPipeline(
      speechRecognitionCtc,
      hub,
      audio(wav2vec2TestAudio(WAV2VEC2_TEXTS.quote, 48000), 48000),
      {},
      { model: prepared.bytes },
    );
    expect((output as SpeechRecognitionOutput).text).toBe(WAV2VEC2_TEXTS.quote);
    expect(
      await referenceCtcTranscript(wav2vec2TestAudio(WAV2VEC2_TEXTS.quote), prepared.bytes, WAV2VEC2_VOCAB),
    ).toEqual(output);
  });

  test('30 s is taken; 30 s and one sample more is a DataError naming the limit', async () => {
    expect(await transcribe(audio(new Float32Array(480000)))).toEqual({ text: '', tokens: [] });
    await expect(transcribe(audio(new Float32Array(44100 * 30 + 1), 44100))).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/30\.00 s long.*at most 30 s/),
    });
  });

  test.each<[string, WireInput, RegExp]>([
    ['text input', { kind: 'text', text: ['hello'], batched: false }, /takes audio.*got text input/],
    ['image input', { kind: 'image', images: [], batched: false }, /takes audio.*got image input/],
    ['sampleRate 0', audio(new Float32Array(1000), 0), /sampleRate must be an integer number of Hz.*got 0/],
    ['sampleRate 22050.5', audio(new Float32Array(1000), 22050.5), /sampleRate.*22050.5/],
    ['sampleRate NaN', audio(new Float32Array(1000), NaN), /sampleRate/],
    ['a NaN sample', audio(Float32Array.of(0, 0.1, NaN)), /audio\[2\] is NaN/],
    ['an infinite sample', audio(Float32Array.of(Infinity)), /audio\[0\] is Infinity/],
    ['no samples', audio(new Float32Array(0)), /audio must be a non-empty Float32Array/],
    ['less than one frame', audio(new Float32Array(319)), /at least 320 samples at 16000 Hz/],
  ])('%s is a DataError naming the field', async (_, input, message) => {
    await expect(transcribe(input)).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(message),
    });
  });

  test('an aborted request does not run the graph', async () => {
    const controller = new AbortController();
    controller.abort();
    let runs = 0;
    const aborted: GraphRunner = {
      signal: controller.signal,
      io: (role) => runner.io(role),
      run: async (role, feeds) => {
        runs++;
        return runner.run(role, feeds);
      },
    };
    await expect(transcribe(audio(wav2vec2TestAudio('HI')), {}, aborted)).rejects.toMatchObject({ name: 'AbortError' });
    expect(runs).toBe(0);
  });
});

describe('model files', () => {
  const prepare = (files: HubFiles) => speechRecognitionCtc.prepare(filesFrom(files));
  const replace = (name: string, contents: unknown): HubFiles => {
    const files = { ...hub };
    if (contents === undefined) delete files[name];
    else files[name] = JSON.stringify(contents);
    return files;
  };
  const json = (name: string) => JSON.parse(hub[name] as string) as Record<string, unknown>;

  test.each(['config.json', 'preprocessor_config.json', 'vocab.json'])(
    'a missing %s is a NotFoundError',
    async (name) => {
      await expect(prepare(replace(name, undefined))).rejects.toMatchObject({
        name: 'NotFoundError',
        message: expect.stringContaining(name),
      });
    },
  );

  test('tokenizer_config.json is optional (the defaults are the wav2vec2 tokenizer’s)', async () => {
    const { 'tokenizer_config.json': _, ...files } = hub;
    const assets = await prepare(files);
    expect(assets).toMatchObject({ padId: 0, wordDelimiterId: 4, sampleRate: 16000, normalize: true, minSamples: 320 });
    expect([...assets.special].sort()).toEqual([0, 1, 2, 3]);
  });

  test.each<[string, string, unknown, RegExp]>([
    ['config.json', 'model_type whisper', { ...json('config.json'), model_type: 'whisper' }, /encoder_model\.onnx/],
    ['config.json', 'conv_stride of another length', { ...json('config.json'), conv_stride: [5, 2] }, /conv_kernel/],
    [
      'config.json',
      'a frame longer than 30 s',
      { ...json('config.json'), conv_kernel: [60000, 10], conv_stride: [60000, 10] },
      /need 600000 samples for one frame, more than 30 s/,
    ],
    [
      'preprocessor_config.json',
      'sampling_rate 0',
      { ...json('preprocessor_config.json'), sampling_rate: 0 },
      /sampling_rate/,
    ],
    [
      'preprocessor_config.json',
      'do_normalize "yes"',
      { ...json('preprocessor_config.json'), do_normalize: 'yes' },
      /do_normalize/,
    ],
    [
      'preprocessor_config.json',
      'feature_size 80',
      { ...json('preprocessor_config.json'), feature_size: 80 },
      /feature_size must be 1/,
    ],
    ['vocab.json', 'an empty vocabulary', {}, /vocab\.json must map/],
    ['vocab.json', 'an id that is not an integer', { '<pad>': 0, A: 1.5 }, /bad id 1\.5/],
    ['vocab.json', 'two tokens with one id', { '<pad>': 0, A: 1, B: 1 }, /id 1 to two tokens/],
  ])('a bad %s (%s) is a DataError naming it', async (name, _, contents, message) => {
    await expect(prepare(replace(name, contents))).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(message),
    });
  });

  test('a vocabulary without the blank is a DataError', async () => {
    const files = replace('vocab.json', { A: 0, B: 1 });
    files['config.json'] = JSON.stringify({ ...json('config.json'), pad_token_id: 7 });
    await expect(prepare(files)).rejects.toMatchObject({ name: 'DataError', message: expect.stringMatching(/pad/) });
  });
});

describe('which speech pipeline a model gets', () => {
  test('the registry id wav2vec2-base-960h: the CTC pipeline on Xenova/wav2vec2-base-960h', async () => {
    expect(registryEntry('wav2vec2-base-960h')).toMatchObject({
      repo: 'Xenova/wav2vec2-base-960h',
      task: 'automatic-speech-recognition',
      modelType: 'wav2vec2',
    });
    const r = await resolveModel('wav2vec2-base-960h', {
      requester: { origin: 'https://site.example', page: true },
      partition: 'https://site.example',
    });
    if (r.kind !== 'task') throw new Error('expected a task model');
    expect(r.pipeline).toBe(speechRecognitionCtc);
    expect(r.graphs.map(([role, url]) => [role, url.href])).toEqual([
      ['model', 'https://huggingface.co/Xenova/wav2vec2-base-960h/resolve/main/onnx/model.onnx'],
    ]);
    expect(r.file('vocab.json').href).toBe('https://huggingface.co/Xenova/wav2vec2-base-960h/resolve/main/vocab.json');
    expect(await resolveModel('whisper-tiny', r)).toMatchObject({ kind: 'task', pipeline: speechRecognition });
  });

  test('a URL with the task: an encoder graph is Whisper (decoders beside it), any other graph is CTC', async () => {
    const page = { requester: { origin: 'https://site.example', page: true }, partition: 'https://site.example' };
    const task = 'automatic-speech-recognition' as const;
    const whisper = await resolveModel({ url: 'https://cdn.example/w/onnx/encoder_model_quantized.onnx', task }, page);
    const ctc = await resolveModel({ url: 'https://cdn.example/v/onnx/model_fp16.onnx', task }, page);
    if (whisper.kind !== 'task' || ctc.kind !== 'task') throw new Error('expected task models');
    expect(whisper.pipeline).toBe(speechRecognition);
    expect(whisper.graphs.map(([role]) => role)).toEqual(['encoder', 'decoder', 'decoderWithPast']);
    expect(ctc.pipeline).toBe(speechRecognitionCtc);
    expect(ctc.graphs.map(([role, url]) => [role, url.href])).toEqual([
      ['model', 'https://cdn.example/v/onnx/model_fp16.onnx'],
    ]);
    expect(modelTypeOfGraph('feature-extraction', new URL('https://cdn.example/model.onnx'))).toBeUndefined();
  });

  test('an unknown model type is NotSupportedError; other tasks have one pipeline', () => {
    expect(() => pipelineFor('automatic-speech-recognition', 'hubert-x')).toThrow(/hubert-x.*wav2vec2/);
    expect(() => pipelineFor('feature-extraction', 'wav2vec2')).toThrow(/wav2vec2/);
  });
});
