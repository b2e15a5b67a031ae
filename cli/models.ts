/**
 * What `webq check` runs and how it judges a quantized run against the fp32 run: the two bundled real models
 * (PP-OCRv4 rec: same decoded text; Silero VAD: same speech/silence decisions), registry ids (their task's output:
 * tasks.ts) and any other ONNX model (deterministic inputs from ModelInfo.inputs, cosine of every output).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ctcDecode, MODELS, ocrInput, readWav, resampleLinear, speech16k } from '../tools/fixtures';
import type { Route } from '../tools/server';
import type { ModelSpec } from './args';
import { taskModel } from './tasks';
import type { CheckModel, InputInfo, Outputs } from './check-model';
import { COSINE_AGREES, cosine, fromB64, maxAbsDiff, prng, syntheticTensor, toB64 } from './tensors';

function ppocr(text: string): CheckModel<Outputs> {
  const input = ocrInput(text);
  const logits = (o: Outputs) => {
    const t = Object.values(o)[0]!;
    return { dims: t.dims, values: fromB64(t).values };
  };
  return {
    label: `ppocr (PP-OCRv4 rec) on rendered "${text}"`,
    routes: { '/models/ppocr_rec.onnx': MODELS.ppocrRec },
    ref: (origin) => `${origin}/models/ppocr_rec.onnx`,
    plan: () => ({
      kind: 'tensors',
      steps: [{ x: toB64('float32', input.dims, input.data) }],
      carry: {},
      collect: null,
    }),
    compare(reference, got) {
      const a = logits(reference);
      const b = logits(got);
      const refText = ctcDecode(Float32Array.from(a.values), a.dims);
      const gotText = ctcDecode(Float32Array.from(b.values), b.dims);
      const cos = cosine(a.values, b.values);
      const agrees = refText === gotText;
      return {
        agrees,
        cosine: cos,
        text: gotText,
        summary: `${agrees ? 'same text' : `text "${gotText}" ≠ "${refText}"`}, cos ${cos.toFixed(5)}`,
      };
    },
  };
}

function vadAudio(input: string | undefined): Float32Array {
  if (input && input.toLowerCase().endsWith('.wav') && existsSync(input)) {
    const { samples, sampleRate } = readWav(new Uint8Array(readFileSync(input)));
    return sampleRate === 16000 ? samples : resampleLinear(samples, sampleRate, 16000);
  }
  return speech16k(input);
}

function sileroVad(input: string | undefined): CheckModel<Outputs> {
  const audio = vadAudio(input);
  const frames = Math.floor(audio.length / 512);
  if (frames === 0) throw new Error('the audio is shorter than one 512-sample frame');
  const probabilities = (o: Outputs) => fromB64(o.output!).values;
  return {
    label: `silero-vad (Silero VAD v5) on ${input?.endsWith('.wav') ? input : 'espeak-ng speech'}, ${frames} frames of 32 ms`,
    routes: { '/models/silero_vad.onnx': MODELS.sileroVad },
    ref: (origin) => `${origin}/models/silero_vad.onnx`,
    plan: () => ({
      kind: 'tensors',
      steps: Array.from({ length: frames }, (_, i) => ({
        input: toB64('float32', [1, 512], audio.slice(i * 512, (i + 1) * 512)),
        sr: toB64('int64', [], new BigInt64Array([16000n])),
        // The first frame starts from zero state; later frames get the previous frame's stateN (carry).
        ...(i === 0 ? { state: toB64('float32', [2, 1, 128], new Float32Array(256)) } : {}),
      })),
      carry: { stateN: 'state' },
      collect: ['output'],
    }),
    compare(reference, got) {
      const a = probabilities(reference);
      const b = probabilities(got);
      let differ = 0;
      let speech = 0;
      for (let i = 0; i < a.length; i++) {
        if (a[i]! > 0.5 !== b[i]! > 0.5) differ++;
        if (b[i]! > 0.5) speech++;
      }
      const maxDiff = maxAbsDiff(a, b);
      return {
        agrees: differ === 0,
        decisionsDiffer: differ,
        maxDiff,
        summary: `${differ === 0 ? 'same decisions' : `${differ} of ${a.length} decisions differ`} (${speech}/${b.length} speech), max Δp ${maxDiff.toPrecision(2)}`,
      };
    },
  };
}

/** Free dims (names, or the -1/null ORT gives unnamed ones) become 1 unless `--dims` names them. */
export function resolveDims(input: InputInfo, overrides: Record<string, string>): number[] {
  const whole = overrides[input.name];
  if (whole) return whole.split('x').map(Number);
  return input.dims.map((d) => {
    if (typeof d === 'number' && d > 0) return d;
    if (typeof d === 'string' && overrides[d]) return Number(overrides[d]);
    return 1;
  });
}

function anyOnnx(
  ref: (origin: string) => string,
  label: string,
  routes: Record<string, Route>,
  dims: Record<string, string>,
): CheckModel<Outputs> {
  return {
    label,
    routes,
    ref,
    plan(inputs) {
      const random = prng(0x5eed);
      return {
        kind: 'tensors',
        steps: [Object.fromEntries(inputs.map((i) => [i.name, syntheticTensor(i.type, resolveDims(i, dims), random)]))],
        carry: {},
        collect: null,
      };
    },
    compare(reference, got) {
      let worst = 1;
      for (const [name, t] of Object.entries(reference)) {
        const g = got[name];
        worst = Math.min(worst, g ? cosine(fromB64(t).values, fromB64(g).values) : NaN);
      }
      const agrees = worst >= COSINE_AGREES;
      const n = Object.keys(reference).length;
      return { agrees, cosine: worst, summary: `cos ${worst.toFixed(5)}${n > 1 ? ` (lowest of ${n} outputs)` : ''}` };
    },
  };
}

export function checkModel(spec: ModelSpec, input: string | undefined, dims: Record<string, string>): CheckModel {
  switch (spec.kind) {
    case 'builtin':
      return (spec.name === 'ppocr' ? ppocr(input ?? 'Hello World 2024') : sileroVad(input)) as CheckModel;
    case 'file': {
      const path = `/models/${encodeURIComponent(basename(spec.path))}`;
      return anyOnnx((origin) => `${origin}${path}`, spec.path, { [path]: spec.path }, dims) as CheckModel;
    }
    case 'url':
      return anyOnnx(() => spec.url, spec.url, {}, dims) as CheckModel;
    case 'id':
      return taskModel(spec, input);
  }
}
