/**
 * `webq check` options: node:util parseArgs (no extra dependency), then validated into a CheckConfig.
 * Every problem is a UsageError, which the entry point prints with the help hint and exit code 2.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const BROWSERS = ['chrome', 'firefox'] as const;
export const PLATFORMS = ['wasm', 'webgpu', 'webnn'] as const;
export const BITS = [2, 4, 8, 16, 32] as const;
export const BUILTIN_MODELS = ['ppocr', 'silero-vad'] as const;

export type Browser = (typeof BROWSERS)[number];
export type Platform = (typeof PLATFORMS)[number];
export type Bits = (typeof BITS)[number];

/** What `--model` named: one of the bundled real models, a file to serve, a URL, or a registry id. */
export type ModelSpec =
  | { kind: 'builtin'; name: (typeof BUILTIN_MODELS)[number] }
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string }
  | { kind: 'id'; id: string };

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
  --model NAME|URL|PATH              ppocr (default): PP-OCRv4 text recognition on rendered text;
                                     silero-vad: Silero VAD v5 over speech; a path to a .onnx file (served
                                     locally); or a URL (https or loopback). Registry ids (bert-base-uncased,
                                     ...) come with the model registry: today webq rejects them (NotFoundError).
  --input TEXT|FILE                  ppocr: the text to render (default "Hello World 2024");
                                     silero-vad: text spoken by espeak-ng, or a .wav file
  --dims NAME=VALUE                  any .onnx: a free dimension (NAME=4) or an input's shape
                                     (input_ids=1x16), repeatable; other free dimensions are 1
  --runs N                           timed runs after one warm-up (default 3); median reported
  --json                             print JSON instead of the table
  --headed                           show the browser windows (needs a display)
  --model-host URL                   where registry ids will be fetched from; accepted and recorded,
                                     unused until registry ids exist
  --strict                           unsupported combinations and disagreements with fp32 fail too
  --webnn-harness                    with chrome: also run webnn in the engine harness page inside
                                     @sparticuz/chromium (a Chromium with WebNN that cannot load extensions)
  -h, --help

Exit code: 0 when every combination ran or was reported unsupported (NotSupportedError, absent backend);
1 when any failed for another reason (or, with --strict, was unsupported or disagreed); 2 for usage errors.`;

/** Splits repeatable, comma-separable values ("--bits 4 --bits 8,16"). */
function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} ${value}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function integer(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${value}: expected an integer ≥ ${min}`);
  return n;
}

/** `--model`: a built-in name, a URL, an existing path (relative to where the user ran the command), or an id. */
export function parseModel(value: string, cwd: string): ModelSpec {
  if ((BUILTIN_MODELS as readonly string[]).includes(value)) return { kind: 'builtin', name: value as (typeof BUILTIN_MODELS)[number] };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return { kind: 'url', url: value };
  const path = resolve(cwd, value);
  if (existsSync(path)) return { kind: 'file', path };
  if (value.endsWith('.onnx') || value.includes('/')) throw new UsageError(`--model ${value}: no such file`);
  return { kind: 'id', id: value };
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
  const bits = bitsRaw.length === 0
    ? [32, 8] as Bits[]
    : [...new Set(bitsRaw.map((b) => Number(oneOf('bits', b, BITS.map(String))) as Bits))];

  const quantized = bits.some((b) => b !== 32);
  const scheme = v.scheme === undefined ? undefined : oneOf('scheme', v.scheme, ['symmetric', 'asymmetric'] as const);
  const groupSize = v['group-size'] === undefined ? undefined : integer('group-size', v['group-size'], -1);
  if (!quantized && (scheme || groupSize !== undefined || v['mixed-precision'])) {
    throw new UsageError('--scheme, --group-size and --mixed-precision apply to quantized bit widths: add --bits 2, 4, 8 or 16');
  }

  const dims: Record<string, string> = {};
  for (const d of list(v.dims)) {
    const m = d.match(/^([^=]+)=(\d+(?:x\d+)*)$/);
    if (!m) throw new UsageError(`--dims ${d}: expected NAME=N or INPUT=AxBxC`);
    dims[m[1]!] = m[2]!;
  }
  if (v.headed && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) throw new UsageError('--headed needs a display (DISPLAY is not set)');
  if (v['model-host'] !== undefined && !/^https?:\/\//.test(v['model-host'])) throw new UsageError(`--model-host ${v['model-host']}: expected an http(s) URL`);

  const model = parseModel(v.model!, cwd);
  if (v['webnn-harness'] && (!browsers.includes('chrome') || !platforms.includes('webnn'))) {
    throw new UsageError('--webnn-harness runs webnn in a Chromium harness: use it with --browser chrome (or all) and --platform webnn (or all)');
  }
  return {
    browsers, platforms, bits, scheme, groupSize, mixedPrecision: v['mixed-precision']!, model,
    input: v.input, dims, runs: integer('runs', v.runs!, 1), json: v.json!, headed: v.headed!,
    modelHost: v['model-host'], strict: v.strict!, webnnHarness: v['webnn-harness']!,
  };
}
