/**
 * `webq check` options: node:util parseArgs (no extra dependency), then validated into a CheckConfig.
 * Every problem is a UsageError, which the entry point prints with the help hint and exit code 2.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { checkModelHost, DEFAULT_MODEL_HOST } from '../extension/models/model-host';
import { entryTasks, REGISTRY } from '../extension/models/registry';
import type { Task } from '../extension/shared/types';

export const BROWSERS = ['chrome', 'firefox'] as const;
export const PLATFORMS = ['wasm', 'webgpu', 'webnn'] as const;
export const BITS = [2, 4, 8, 16, 32] as const;
export const BUILTIN_MODELS = ['ppocr', 'silero-vad'] as const;

export type Browser = (typeof BROWSERS)[number];
export type Platform = (typeof PLATFORMS)[number];
export type Bits = (typeof BITS)[number];

/** What `--model` named: one of the bundled real models, a file to serve, a URL, or a registry id (with its task). */
export type ModelSpec =
  | { kind: 'builtin'; name: (typeof BUILTIN_MODELS)[number] }
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string }
  | { kind: 'id'; id: string; repo: string; task: Task; labels?: string[] };

/**
 * Image files `--input` may name for an image id (classification, zero-shot, image embeddings), by extension, with
 * the type the page's Blob gets.
 */
export const IMAGE_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
});
const REGISTRY_IDS = [...REGISTRY.values()].map((e) => e.id).join(', ');

export interface CheckConfig {
  browsers: Browser[];
  platforms: Platform[];
  bits: Bits[];
  scheme?: 'symmetric' | 'asymmetric';
  groupSize?: number;
  mixedPrecision: boolean;
  model: ModelSpec;
  input?: string;
  dims: Record<string, string>;
  runs: number;
  json: boolean;
  headed: boolean;
  modelHost?: string;
  strict: boolean;
  webnnHarness: boolean;
}

export class UsageError extends Error {}

export const HELP = `Usage: npx webq check [options]        (or: npm run check -- [options])

Runs a model through window.webq in real browsers with the built extension (dist/), one combination or a
matrix, and prints backend, fallbacks, load and inference times, model bytes, memory reduction and agreement
with the fp32 run. Nothing is built: run \`npm run build\` first.

Options (a list may also be given comma-separated, e.g. --platform wasm,webgpu):
  --browser chrome|firefox|all       browsers to launch (default chrome)
  --platform webgpu|webnn|wasm|all   webq backends to ask for (default all)
  --bits 2|4|8|16|32                 weight bits, repeatable (default 32 and 8); 32 = weights as stored
  --scheme symmetric|asymmetric      quantizer scheme (quantized bit widths only)
  --group-size N                     quantizer block size (0 = per channel, -1 = per tensor)
  --mixed-precision                  the mixed-precision policy (quantized bit widths only)
  --model NAME|ID|URL|PATH           ppocr (default): PP-OCRv4 text recognition on rendered text;
                                     silero-vad: Silero VAD v5 over speech; a registry id, fetched by the
                                     extension from its model host and run as its task:
                                       bert-base-uncased     text → embedding (cosine with fp32)
                                       vit-base-patch16-224  image → labels (same top label as fp32)
                                       clip-vit-base-patch32 image + --labels → zero-shot labels (same top
                                                             label as fp32); --task image-feature-extraction:
                                                             image → embedding (cosine with fp32)
                                       whisper-tiny          speech → text (same text as fp32)
                                       wav2vec2-base-960h    speech → text by CTC (same text as fp32)
                                       t5-small              prompt → text, greedy (same text as fp32)
                                       qwen2.5-0.5b-instruct, llama-3.2-1b-instruct
                                                             chat → answer, greedy (first 8 tokens as fp32)
                                     a path to a .onnx file (served locally); or a URL (https or loopback)
  --input TEXT|FILE                  ppocr: the text to render (default "Hello World 2024");
                                     silero-vad, whisper-tiny, wav2vec2-base-960h: text spoken by
                                     espeak-ng (default a sentence), or a .wav file;
                                     bert-base-uncased: the text to embed (default a sentence);
                                     t5-small: the prompt (default "translate English to German: …");
                                     chat models: the user's message (default "Name three colours …");
                                     vit-base-patch16-224, clip-vit-base-patch32: a .png/.jpg/.jpeg/.webp/
                                     .gif/.bmp file (default: ImageMagick's built-in photo of a rose, rendered
                                     with \`convert rose:\`)
  --task TASK                        a registry id serving several tasks: which one (default its first)
  --labels A,B,...                   zero-shot-image-classification: the candidate labels (default: a rose,
                                     a cat, a dog, a car)
  --dims NAME=VALUE                  any .onnx: a free dimension (NAME=4) or an input's shape
                                     (input_ids=1x16), repeatable; other free dimensions are 1
  --runs N                           timed runs after one warm-up (default 3); median reported
  --json                             print JSON instead of the table
  --headed                           show the browser windows (needs a display)
  --model-host URL                   registry ids: the model host to set on the extension's options page in
                                     each browser before running (https, or http on localhost; a server with
                                     the hub's layout {host}/{repo}/resolve/main/{file}). Without it the
                                     extension's default in a new profile: ${DEFAULT_MODEL_HOST}
  --strict                           unsupported combinations and disagreements with fp32 fail too
  --webnn-harness                    with chrome: also run webnn in the engine harness page inside
                                     @sparticuz/chromium (a Chromium with WebNN that cannot load extensions)
  -h, --help

Exit code: 0 when every combination ran or was reported unsupported (NotSupportedError, absent backend);
1 when any failed for another reason (a model host that cannot be reached is a failure: NetworkError) or,
with --strict, was unsupported or disagreed; 2 for usage errors.`;

/** Splits repeatable, comma-separable values ("--bits 4 --bits 8,16"). */
function list(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${name} ${value}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function integer(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${value}: expected an integer ≥ ${min}`);
  return n;
}

/**
 * `--model`: a built-in name, a registry id, a URL, or an existing path (relative to where the user ran the
 * command). Anything else is a usage error: the CLI needs an id's task to give it a real input.
 */
export function parseModel(value: string, cwd: string): ModelSpec {
  if ((BUILTIN_MODELS as readonly string[]).includes(value))
    return { kind: 'builtin', name: value as (typeof BUILTIN_MODELS)[number] };
  const entry = REGISTRY.get(value);
  if (entry) return { kind: 'id', id: entry.id, repo: entry.repo, task: entry.task };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return { kind: 'url', url: value };
  const path = resolve(cwd, value);
  if (existsSync(path)) return { kind: 'file', path };
  if (value.endsWith('.onnx') || value.includes('/')) throw new UsageError(`--model ${value}: no such file`);
  throw new UsageError(
    `--model ${value}: not ppocr, silero-vad, a registry id (${REGISTRY_IDS}), a URL or an existing file`,
  );
}

const IMAGE_TASKS: readonly Task[] = [
  'image-classification',
  'zero-shot-image-classification',
  'image-feature-extraction',
];

/** `--input` for a registry id, checked against what its task takes (files must exist; audio files are .wav). */
function checkTaskInput(spec: Extract<ModelSpec, { kind: 'id' }>, input: string | undefined, cwd: string): void {
  if (input === undefined) return;
  const path = resolve(cwd, input);
  if (IMAGE_TASKS.includes(spec.task)) {
    if (!IMAGE_TYPES[extname(path).toLowerCase()])
      throw new UsageError(
        `--input ${input}: ${spec.id} classifies an image: give a ${Object.keys(IMAGE_TYPES).join('/')} file`,
      );
    if (!existsSync(path)) throw new UsageError(`--input ${input}: no such file`);
  }
  if (spec.task === 'automatic-speech-recognition' && input.toLowerCase().endsWith('.wav') && !existsSync(path)) {
    throw new UsageError(`--input ${input}: no such file`);
  }
}

export function parseCheckArgs(argv: string[], cwd: string): CheckConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        browser: { type: 'string', multiple: true },
        platform: { type: 'string', multiple: true },
        bits: { type: 'string', multiple: true },
        scheme: { type: 'string' },
        'group-size': { type: 'string' },
        'mixed-precision': { type: 'boolean', default: false },
        model: { type: 'string', default: 'ppocr' },
        input: { type: 'string' },
        task: { type: 'string' },
        labels: { type: 'string', multiple: true },
        dims: { type: 'string', multiple: true },
        runs: { type: 'string', default: '3' },
        json: { type: 'boolean', default: false },
        headed: { type: 'boolean', default: false },
        'model-host': { type: 'string' },
        strict: { type: 'boolean', default: false },
        'webnn-harness': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';

  const expand = <T extends string>(name: string, raw: string[], all: readonly T[], fallback: T[]): T[] => {
    if (raw.length === 0) return fallback;
    if (raw.includes('all')) return [...all];
    return [...new Set(raw.map((x) => oneOf(name, x, all)))];
  };
  const browsers = expand('browser', list(v.browser), BROWSERS, ['chrome']);
  const platforms = expand('platform', list(v.platform), PLATFORMS, [...PLATFORMS]);
  const bitsRaw = list(v.bits);
  const bits =
    bitsRaw.length === 0
      ? ([32, 8] as Bits[])
      : [...new Set(bitsRaw.map((b) => Number(oneOf('bits', b, BITS.map(String))) as Bits))];

  const quantized = bits.some((b) => b !== 32);
  const scheme = v.scheme === undefined ? undefined : oneOf('scheme', v.scheme, ['symmetric', 'asymmetric'] as const);
  const groupSize = v['group-size'] === undefined ? undefined : integer('group-size', v['group-size'], -1);
  if (!quantized && (scheme || groupSize !== undefined || v['mixed-precision'])) {
    throw new UsageError(
      '--scheme, --group-size and --mixed-precision apply to quantized bit widths: add --bits 2, 4, 8 or 16',
    );
  }

  const dims: Record<string, string> = {};
  for (const d of list(v.dims)) {
    const m = d.match(/^([^=]+)=(\d+(?:x\d+)*)$/);
    if (!m) throw new UsageError(`--dims ${d}: expected NAME=N or INPUT=AxBxC`);
    dims[m[1]!] = m[2]!;
  }
  if (v.headed && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
    throw new UsageError('--headed needs a display (DISPLAY is not set)');

  const model = parseModel(v.model!, cwd);
  if (v.task !== undefined) {
    if (model.kind !== 'id') throw new UsageError(`--task applies to registry ids; --model ${v.model} is not one`);
    const tasks = entryTasks(REGISTRY.get(model.id)!);
    model.task = oneOf('task', v.task, tasks);
  }
  if (v.labels !== undefined) {
    if (model.kind !== 'id' || model.task !== 'zero-shot-image-classification')
      throw new UsageError('--labels applies to a zero-shot-image-classification id (clip-vit-base-patch32)');
    model.labels = list(v.labels).filter((l) => l.trim());
    if (model.labels.length === 0) throw new UsageError('--labels: give at least one label');
  }
  let modelHost: string | undefined;
  if (v['model-host'] !== undefined) {
    if (model.kind !== 'id')
      throw new UsageError(
        `--model-host applies to registry ids (${REGISTRY_IDS}); --model ${v.model} does not use it`,
      );
    // The options page's own rule (extension/models/model-host.ts), so a host it would refuse is refused here.
    const host = checkModelHost(v['model-host']);
    if (!host.ok) throw new UsageError(`--model-host ${v['model-host']}: ${host.reason}`);
    modelHost = host.url;
    if (v['webnn-harness'])
      throw new UsageError(
        '--model-host cannot be set in the --webnn-harness page (it has no options page; it fetches ids from the default host)',
      );
  }
  if (model.kind === 'id') {
    checkTaskInput(model, v.input, cwd);
    if (Object.keys(dims).length)
      throw new UsageError(`--dims applies to .onnx files and URLs; ${model.id} takes its task's input (--input)`);
  }
  if (v['webnn-harness'] && (!browsers.includes('chrome') || !platforms.includes('webnn'))) {
    throw new UsageError(
      '--webnn-harness runs webnn in a Chromium harness: use it with --browser chrome (or all) and --platform webnn (or all)',
    );
  }
  return {
    browsers,
    platforms,
    bits,
    scheme,
    groupSize,
    mixedPrecision: v['mixed-precision']!,
    model,
    input: v.input,
    dims,
    runs: integer('runs', v.runs!, 1),
    json: v.json!,
    headed: v.headed!,
    modelHost,
    strict: v.strict!,
    webnnHarness: v['webnn-harness']!,
  };
}
