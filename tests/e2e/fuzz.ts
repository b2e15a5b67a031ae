/**
 * A seeded generator of hostile calls for the fuzz test (tests/e2e/security.test.ts, issue 8).
 *
 * Cases are made here, in Node, as JSON-safe *recipes*; `decodeInPage` (shipped into the page with the cases)
 * turns a recipe into the real value: NaN, ±Infinity, −0, BigInt, typed arrays of any kind, DataView, ArrayBuffer,
 * `undefined`, objects whose own keys are `__proto__`/`constructor`/`prototype`, 1e6-key option objects, very
 * long strings, deep nesting. Playwright cannot carry most of these as arguments, and a `__proto__` key would
 * become a prototype on the way, so they are rebuilt in the page.
 *
 * Two ways in:
 *  - `api`: `window.webq.<method>(...args)` with malformed arguments — must reject with a named webq error;
 *  - `bridge`: `window.postMessage({ tag: 'webq:page', message }, '*')` straight to the content-script bridge,
 *    skipping the page API's own checks — a message with a valid id must be answered with exactly one error reply
 *    for that id; one with an invalid id cannot be answered (the protocol has no id to answer to) and must be
 *    ignored, as must envelopes that are not webq's.
 */
import { mulberry32 } from '../../extension/shared/random';

/** A value the page rebuilds. Plain JSON stands for itself (objects: only keys that are safe to assign). */
export type Recipe =
  | null
  | boolean
  | number
  | string
  | Recipe[]
  | { [key: string]: Recipe }
  | { $: 'NaN' | 'Infinity' | '-Infinity' | '-0' | 'undefined' }
  | { $: 'bigint'; v: string }
  | { $: 'typed'; kind: string; length: number; fill?: number }
  | { $: 'buffer'; bytes: number }
  | { $: 'dataview'; bytes: number }
  | { $: 'entries'; entries: [string, Recipe][] }
  | { $: 'bigObject'; keys: number }
  | { $: 'longString'; length: number; char?: string }
  | { $: 'deep'; depth: number }
  | { $: 'array'; length: number; item: Recipe };

export type Expect =
  | 'error' // rejected (api) / answered with one error reply (bridge), the error named and explained
  | 'silent' // bridge only: no reply may arrive for it (invalid id, not a webq envelope, abort)
  | 'answered'; // any one reply, result or named error (well-formed requests whose outcome the engine decides)

export interface FuzzCase {
  n: number;
  label: string;
  via: 'api' | 'bridge';
  /** api: the method; bridge: unused. */
  method?: 'run' | 'load' | 'unload' | 'capabilities';
  /** api: the arguments; bridge: [envelope]. */
  args: Recipe[];
  expect: Expect;
  /** bridge: the id a reply must carry (null when none may come). */
  replyId?: string | null;
}

const NaN_: Recipe = { $: 'NaN' };
const INF: Recipe = { $: 'Infinity' };
const NEG_INF: Recipe = { $: '-Infinity' };
const UNDEF: Recipe = { $: 'undefined' };
const NEG_ZERO: Recipe = { $: '-0' };
const typed = (kind: string, length: number, fill?: number): Recipe => ({
  $: 'typed',
  kind,
  length,
  ...(fill !== undefined ? { fill } : {}),
});
const entries = (...e: [string, Recipe][]): Recipe => ({ $: 'entries', entries: e });

const POLLUTION_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'then',
];
const TYPED_KINDS = [
  'Float32Array',
  'Float64Array',
  'Int32Array',
  'Uint32Array',
  'Int16Array',
  'Uint16Array',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'BigInt64Array',
  'BigUint64Array',
];
const TENSOR_TYPES = ['float32', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool'];
/** The typed array each tensor type needs (float16 travels as raw Uint16 bits). */
const KIND_OF: Record<string, string> = {
  float32: 'Float32Array',
  float16: 'Uint16Array',
  int64: 'BigInt64Array',
  int32: 'Int32Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  bool: 'Uint8Array',
};

/** Values no field of the protocol accepts where a number, string or object of a given shape is expected. */
const JUNK: Recipe[] = [
  NaN_,
  INF,
  NEG_INF,
  NEG_ZERO,
  UNDEF,
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 53,
  -(2 ** 31),
  1e308,
  '',
  ' ',
  'x',
  '0',
  '[]',
  '{}',
  'NaN',
  '__proto__',
  [],
  [null],
  [NaN_],
  {},
  entries(['__proto__', { polluted: true }]),
  { $: 'bigint', v: '1' },
  typed('Float64Array', 4),
  { $: 'buffer', bytes: 8 },
  { $: 'dataview', bytes: 8 },
  { $: 'longString', length: 5000 },
  { $: 'deep', depth: 200 },
];

export interface FuzzTargets {
  /** Identity model: x float32 [n] → y. */
  identity: string;
  /** Silero VAD: input [1, 512] (free batch), state [2, 1, 128], sr int64 scalar. */
  vad: string;
  /** A URL the page may not make the extension fetch. */
  forbidden: string;
}

/**
 * `count` cases from `seed` (≥ 1,000 in the test). Every case is malformed somewhere; the label says where.
 * Ids of bridge cases are unique (`f<n>`), so each reply can be matched to its case.
 */
export function generateFuzzCases(seed: number, count: number, t: FuzzTargets): FuzzCase[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const junk = () => pick(JUNK);
  const goodTensor = (n = 4): Record<string, Recipe> => ({
    type: 'float32',
    data: typed('Float32Array', n, 1),
    dims: [n],
  });
  const cases: FuzzCase[] = [];
  let bigObjects = 0;

  /**
   * A malformed tensor (one field broken at a time). The label of the one well-formed variant (extra own keys,
   * which every hop drops) starts with "ok:"; its call may succeed.
   */
  const badTensor = (): [string, Recipe] => {
    const n = int(1, 16);
    switch (int(0, 12)) {
      case 0: {
        const v = junk();
        return [`tensor type ${describe(v)}`, { ...goodTensor(n), type: v }];
      }
      case 1: {
        const v = pick(['float64', 'string', 'complex64', 'uint16', 'FLOAT32', ...POLLUTION_KEYS]);
        return [`tensor type "${v}"`, { ...goodTensor(n), type: v }];
      }
      case 2: {
        const d = pick([
          -1,
          -(2 ** 31),
          NaN_,
          INF,
          NEG_INF,
          1.5,
          2 ** 31 + 1,
          2 ** 53,
          1e300,
          '4',
          null,
          UNDEF,
          [4],
          { $: 'bigint', v: '4' },
        ]);
        return [`dim ${describe(d)}`, { ...goodTensor(n), dims: [d] }];
      }
      case 3: {
        const rank = int(9, 40);
        return [`rank ${rank}`, { ...goodTensor(1), dims: Array.from({ length: rank }, () => 1) }];
      }
      case 4: {
        const d = junk();
        return [
          `dims ${describe(d)}`,
          { ...goodTensor(n), dims: Array.isArray(d) && d.length === 0 && n === 1 ? 'x' : d },
        ];
      }
      case 5: {
        const type = pick(TENSOR_TYPES);
        const kind = pick(TYPED_KINDS.filter((k) => k !== KIND_OF[type]));
        return [`${type} data as ${kind}`, { type, data: typed(kind, n), dims: [n] }];
      }
      case 6: {
        const extra = int(1, 7);
        return [
          `data ${n + extra} elements for dims [${n}]`,
          { type: 'float32', data: typed('Float32Array', n + extra), dims: [n] },
        ];
      }
      case 7: {
        const v = pick<Recipe>([
          { $: 'buffer', bytes: 4 * n },
          { $: 'dataview', bytes: 4 * n },
          'abcd',
          7,
          null,
          UNDEF,
          {},
          entries(['length', n]),
        ]);
        return [`data ${describe(v)}`, { type: 'float32', data: v, dims: [n] }];
      }
      case 8: {
        const v = pick<Recipe>([NaN_, INF, 1.5, '3', null, { $: 'bigint', v: '99999999999999999999999' }]);
        return [`int64 number[] with ${describe(v)}`, { type: 'int64', data: [1, v, 3], dims: [3] }];
      }
      case 9: {
        const v = pick<Recipe>(['1', null, UNDEF, {}, [1]]);
        return [`float32 number[] with ${describe(v)}`, { type: 'float32', data: [1, v], dims: [2] }];
      }
      case 10:
        return [
          'huge dims, tiny data',
          { type: 'float32', data: typed('Float32Array', 1), dims: [2 ** 31, 2 ** 31, 2 ** 31] },
        ];
      case 11: {
        const k = pick(POLLUTION_KEYS);
        return [
          `ok: tensor with own key ${k}`,
          entries(['type', 'float32'], ['data', typed('Float32Array', n)], ['dims', [n]], [k, { polluted: true }]),
        ];
      }
      default: {
        const v = junk();
        return [`tensor ${describe(v)}`, v];
      }
    }
  };

  /** A malformed input map for a run (api: the page-side input argument). */
  const badInput = (): [string, Recipe] => {
    switch (int(0, 6)) {
      case 0:
      case 1:
      case 2: {
        const [l, tensor] = badTensor();
        return [l, { x: tensor }];
      }
      case 3: {
        const k = pick(POLLUTION_KEYS);
        return [`input name ${k}`, entries([k, goodTensor()])];
      }
      case 4: {
        const name = pick(['', 'y', 'x '.repeat(200), 'X']);
        return [`input name ${JSON.stringify(name.slice(0, 12))}`, { [name]: goodTensor() }];
      }
      case 5: {
        const many = int(257, 400);
        return [`${many} inputs`, Object.fromEntries(Array.from({ length: many }, (_, i) => [`i${i}`, goodTensor(1)]))];
      }
      default: {
        const v = junk();
        return [`input ${describe(v)}`, typeof v === 'string' && v !== '' ? 5 : v];
      }
    }
  };

  /** A malformed options object. */
  const badOptions = (): [string, Recipe] => {
    switch (int(0, 7)) {
      case 0: {
        const k = pick(POLLUTION_KEYS);
        return [`option key ${k}`, entries([k, { polluted: true }])];
      }
      case 1: {
        const k = pick(['bits', 'groupSize', 'topK', 'maxNewTokens', 'attentionPrecision', 'embeddingPrecision']);
        const v = pick<Recipe>([NaN_, INF, NEG_INF, -1, 3, 1e308, 0.5, '4', null, [4], { $: 'bigint', v: '4' }]);
        return [`option ${k}: ${describe(v)}`, { [k]: v }];
      }
      case 2: {
        const k = pick(['backend', 'scheme', 'devicePreference', 'language']);
        const v = pick<Recipe>(['cuda', '', 'WASM', 1, null, {}, ['wasm'], { $: 'longString', length: 100_000 }]);
        return [`option ${k}: ${describe(v)}`, { [k]: v }];
      }
      case 3: {
        const v = pick<Recipe>([[0, 0, 0], [1025, 1, 1], [NaN_, 1, 1], [1, 1], 'big', [64, 64, 64]]);
        return [`workgroupSize ${describe(v)}`, { workgroupSize: v }];
      }
      case 4: // a few with a million keys (each costs the page a second or so), the rest with ten thousand
        return bigObjects++ < 4
          ? ['1e6-key options object', { $: 'bigObject', keys: 1_000_000 }]
          : ['1e4-key options object', { $: 'bigObject', keys: 10_000 }];
      case 5: {
        const keys = int(65, 5000);
        return [`${keys}-key options object`, { $: 'bigObject', keys }];
      }
      case 6: {
        const v = pick<Recipe>([{}, 'yes', 1, { aborted: true }]);
        return [`signal ${describe(v)}`, { signal: v }];
      }
      default: {
        const k = `opt_${int(0, 1e6)}`;
        return [`unknown option ${k}`, { [k]: true }];
      }
    }
  };

  /** A malformed model reference. */
  const badModel = (): [string, Recipe] => {
    switch (int(0, 5)) {
      case 0: {
        const v = junk();
        return [`model ${describe(v)}`, v];
      } // strings name unknown registry ids: NotFoundError
      case 1:
        return ['model URL of 1e6 characters', { $: 'longString', length: 1_000_000 }];
      case 2: {
        const k = pick(POLLUTION_KEYS);
        return [`model source with own key ${k}`, entries(['url', t.identity], [k, { polluted: true }])];
      }
      case 3: {
        const v = pick<Recipe>(['xyz', '0'.repeat(63), 'g'.repeat(64), 12, null, NaN_]);
        return [`model sha256 ${describe(v)}`, { url: t.identity, sha256: v }];
      }
      case 4: {
        const v = junk();
        return [`model url ${describe(v)}`, { url: typeof v === 'string' ? 5 : v }];
      }
      default: {
        const v = pick<Recipe>(['mining', '', 1, null]);
        return [`model task ${describe(v)}`, { url: t.identity, task: v }];
      }
    }
  };

  for (let n = 0; cases.length < count; n++) {
    const id = `f${n}`;
    const kind = int(0, 9);
    if (kind <= 4) {
      // The page API.
      switch (int(0, 5)) {
        case 0:
        case 1: {
          const [l, input] = badInput();
          cases.push({
            n,
            label: `api run: ${l}`,
            via: 'api',
            method: 'run',
            args: [t.identity, input, { backend: 'wasm' }],
            expect: l.startsWith('ok:') ? 'answered' : 'error',
          });
          break;
        }
        case 2: {
          const [l, options] = badOptions();
          cases.push({
            n,
            label: `api run: ${l}`,
            via: 'api',
            method: pick(['run', 'load'] as const),
            args: [t.identity, { x: goodTensor() }, options],
            expect: 'error',
          });
          break;
        }
        case 3: {
          const [l, model] = badModel();
          cases.push({ n, label: `api load: ${l}`, via: 'api', method: 'load', args: [model], expect: 'error' });
          break;
        }
        case 4: {
          const [l, model] = badModel();
          cases.push({
            n,
            label: `api run: ${l}`,
            via: 'api',
            method: 'run',
            args: [model, { x: goodTensor() }],
            expect: 'error',
          });
          break;
        }
        default: {
          const [l, options] = badOptions();
          cases.push({
            n,
            label: `api load: ${l}`,
            via: 'api',
            method: 'load',
            args: [t.identity, options],
            expect: 'error',
          });
        }
      }
      continue;
    }
    // Straight to the bridge, skipping the page API's checks.
    const envelope = (message: Recipe): Recipe => ({ tag: 'webq:page', message });
    const request = (params: Recipe, method: Recipe = 'run'): Recipe => ({ type: 'request', id, method, params });
    const wire = (tensors: Recipe): Recipe => ({ kind: 'tensors', tensors });
    switch (int(0, 11)) {
      case 0: {
        const [l, tensor] = badTensor();
        cases.push({
          n,
          label: `bridge run: ${l}`,
          via: 'bridge',
          args: [envelope(request({ model: t.identity, input: wire({ x: tensor }), options: { backend: 'wasm' } }))],
          expect: l.startsWith('ok:') ? 'answered' : 'error',
          replyId: id,
        });
        break;
      }
      case 1: {
        const [l, options] = badOptions();
        if (l.startsWith('signal')) {
          n--;
          break;
        }
        cases.push({
          n,
          label: `bridge load: ${l}`,
          via: 'bridge',
          args: [envelope(request({ model: t.identity, options }, 'load'))],
          expect: 'error',
          replyId: id,
        });
        break;
      }
      case 2: {
        const [l, model] = badModel();
        cases.push({
          n,
          label: `bridge load: ${l}`,
          via: 'bridge',
          args: [envelope(request({ model }, 'load'))],
          expect: 'error',
          replyId: id,
        });
        break;
      }
      case 3: {
        const m = pick<Recipe>([
          'eval',
          'fetch',
          '',
          'constructor',
          '__proto__',
          'toString',
          1,
          null,
          UNDEF,
          { $: 'longString', length: 100_000 },
        ]);
        cases.push({
          n,
          label: `bridge method ${describe(m)}`,
          via: 'bridge',
          args: [envelope(request({}, m))],
          expect: 'error',
          replyId: id,
        });
        break;
      }
      case 4: {
        const tp = pick<Recipe>(['result', 'error', 'progress', 'REQUEST', '', null, 1, UNDEF, '__proto__']);
        cases.push({
          n,
          label: `bridge message type ${describe(tp)}`,
          via: 'bridge',
          args: [envelope({ type: tp, id, method: 'capabilities', params: {} })],
          expect: 'error',
          replyId: id,
        });
        break;
      }
      case 5: {
        const bad = pick<Recipe>([
          '',
          'a b',
          'x'.repeat(65),
          'é',
          '../r1',
          'r1\n',
          7,
          null,
          UNDEF,
          NaN_,
          {},
          ['f1'],
          { $: 'longString', length: 1_000_000 },
        ]);
        cases.push({
          n,
          label: `bridge invalid id ${describe(bad)} (cannot be answered)`,
          via: 'bridge',
          args: [envelope({ type: 'request', id: bad, method: 'capabilities', params: {} })],
          expect: 'silent',
          replyId: null,
        });
        break;
      }
      case 6: {
        const v = pick<Recipe>([
          null,
          5,
          'x',
          [],
          {},
          entries(['__proto__', { tag: 'webq:page' }]),
          { tag: 'webq:bridge', message: { type: 'result', id: `forged-${n}`, result: 1 } },
          { tag: 'WEBQ:PAGE', message: {} },
          { $: 'deep', depth: 500 },
        ]);
        cases.push({
          n,
          label: `not a webq envelope: ${describe(v)}`,
          via: 'bridge',
          args: [v],
          expect: 'silent',
          replyId: null,
        });
        break;
      }
      case 7: {
        const input = pick<[string, Recipe]>([
          ['text of 257 strings', { kind: 'text', text: { $: 'array', length: 257, item: 'a' }, batched: true }],
          ['text of 1e6+ chars', { kind: 'text', text: [{ $: 'longString', length: 1_000_001 }], batched: false }],
          ['text with a number', { kind: 'text', text: ['a', 1], batched: true }],
          [
            'image of wrong size',
            { kind: 'image', images: [{ width: 4, height: 4, data: typed('Uint8ClampedArray', 63) }], batched: false },
          ],
          [
            'image data as Uint8Array',
            { kind: 'image', images: [{ width: 1, height: 1, data: typed('Uint8Array', 4) }], batched: false },
          ],
          [
            'image NaN width',
            {
              kind: 'image',
              images: [{ width: NaN_, height: 1, data: typed('Uint8ClampedArray', 4) }],
              batched: false,
            },
          ],
          [
            '65 images',
            {
              kind: 'image',
              images: { $: 'array', length: 65, item: { width: 1, height: 1, data: typed('Uint8ClampedArray', 4) } },
              batched: true,
            },
          ],
          ['audio at 5 Hz', { kind: 'audio', audio: typed('Float32Array', 16), sampleRate: 5 }],
          ['audio as Float64Array', { kind: 'audio', audio: typed('Float64Array', 16), sampleRate: 16000 }],
          ['audio empty', { kind: 'audio', audio: typed('Float32Array', 0), sampleRate: 16000 }],
          ['audio sampleRate Infinity', { kind: 'audio', audio: typed('Float32Array', 16), sampleRate: INF }],
          ['input kind "eval"', { kind: 'eval', code: 'alert(1)' }],
          ['input kind __proto__', entries(['kind', '__proto__'], ['__proto__', { kind: 'tensors' }])],
          ['text for a raw model', { kind: 'text', text: ['hello'], batched: false }],
        ]);
        cases.push({
          n,
          label: `bridge run: ${input[0]}`,
          via: 'bridge',
          args: [envelope(request({ model: t.identity, input: input[1] }))],
          expect: 'error',
          replyId: id,
        });
        break;
      }
      case 8: {
        // Well-formed at the bridge and router; the engine refuses (model inputs, URLs, options it cannot honour).
        const params = pick<[string, Recipe]>([
          ['wrong input name for the model', { model: t.identity, input: wire({ q: goodTensor() }), options: {} }],
          [
            'wrong rank for the model',
            {
              model: t.identity,
              input: wire({ x: { type: 'float32', data: typed('Float32Array', 4), dims: [2, 2] } }),
              options: {},
            },
          ],
          [
            'wrong type for the model',
            {
              model: t.identity,
              input: wire({ x: { type: 'int32', data: typed('Int32Array', 4), dims: [4] } }),
              options: {},
            },
          ],
          [
            'VAD state of wrong static dims',
            {
              model: t.vad,
              input: wire({
                input: { type: 'float32', data: typed('Float32Array', 512), dims: [1, 512] },
                state: { type: 'float32', data: typed('Float32Array', 256), dims: [1, 2, 128] },
                sr: { type: 'int64', data: typed('BigInt64Array', 1), dims: [] },
              }),
              options: { backend: 'wasm' },
            },
          ],
          ['forbidden model URL', { model: t.forbidden, input: wire({ x: goodTensor() }), options: {} }],
          ['file: model URL', { model: 'file:///etc/passwd', input: wire({ x: goodTensor() }), options: {} }],
          [
            'model URL with credentials',
            { model: 'https://user:secret@example.com/m.onnx', input: wire({ x: goodTensor() }), options: {} },
          ],
          ['unknown registry id', { model: 'no-such-model', input: wire({ x: goodTensor() }), options: {} }],
          [
            'workgroupSize (not in this build)',
            { model: t.identity, input: wire({ x: goodTensor() }), options: { workgroupSize: [64, 1, 1] } },
          ],
          ['topK on a raw model', { model: t.identity, input: wire({ x: goodTensor() }), options: { topK: 3 } }],
          [
            'sha256 that does not match',
            {
              model: { url: t.identity, sha256: 'a'.repeat(64) },
              input: wire({ x: goodTensor() }),
              options: { backend: 'wasm' },
            },
          ],
        ]);
        cases.push({
          n,
          label: `bridge run (engine refuses): ${params[0]}`,
          via: 'bridge',
          args: [envelope(request(params[1]))],
          expect: 'error',
          replyId: id,
        });
        break;
      }
      case 9: {
        // Aborts of ids that were never sent, or forged: the protocol does not answer an abort.
        // (Not the ids of this run's own cases: aborting one would rightly leave it unanswered.)
        const target = pick(['never-sent', 'r1', 'r2', 'f999999', 'x'.repeat(64)]);
        cases.push({
          n,
          label: `bridge abort of ${target}`,
          via: 'bridge',
          args: [envelope({ type: 'abort', id: target })],
          expect: 'silent',
          replyId: null,
        });
        break;
      }
      case 10: {
        const k = pick(POLLUTION_KEYS);
        cases.push({
          n,
          label: `bridge message with own key ${k}`,
          via: 'bridge',
          args: [
            envelope(
              entries(
                ['type', 'request'],
                ['id', id],
                ['method', 'capabilities'],
                ['params', entries([k, { polluted: true }])],
              ),
            ),
          ],
          expect: 'answered',
          replyId: id,
        });
        break;
      }
      default: {
        const p = pick<Recipe>([
          null,
          5,
          'x',
          [],
          typed('Uint8Array', 4),
          entries(['__proto__', { model: t.identity }]),
        ]);
        cases.push({
          n,
          label: `bridge params ${describe(p)}`,
          via: 'bridge',
          args: [envelope(request(p, 'load'))],
          expect: 'error',
          replyId: id,
        });
      }
    }
  }
  return cases;
}

function describe(v: Recipe): string {
  if (v === null) return 'null';
  if (typeof v !== 'object')
    return typeof v === 'string' ? JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v) : String(v);
  if (Array.isArray(v)) return `[${v.slice(0, 3).map(describe).join(',')}${v.length > 3 ? ',…' : ''}]`;
  const o = v as {
    $?: string;
    kind?: string;
    length?: number;
    keys?: number;
    v?: string;
    depth?: number;
    entries?: [string, Recipe][];
  };
  switch (o.$) {
    case undefined:
      return `{${Object.keys(v).slice(0, 3).join(',')}}`;
    case 'bigint':
      return `${o.v}n`;
    case 'typed':
      return `${o.kind}(${o.length})`;
    case 'longString':
      return `string(${o.length})`;
    case 'bigObject':
      return `object(${o.keys} keys)`;
    case 'deep':
      return `nested(${o.depth})`;
    case 'entries':
      return `{${o.entries!.map(([k]) => k).join(',')}}`;
    case 'array':
      return `array(${o.length})`;
    default:
      return o.$;
  }
}

/**
 * Runs in the page (passed to `page.evaluate` as part of the runner's source; keep it self-contained): rebuilds a
 * recipe into the value it stands for.
 */
export function decodeInPage(recipe: unknown): unknown {
  const decode = (x: unknown, depth: number): unknown => {
    if (x === null || typeof x !== 'object') return x;
    if (Array.isArray(x)) return x.map((v) => decode(v, depth + 1));
    const o = x as Record<string, unknown>;
    switch (o.$) {
      case 'NaN':
        return NaN;
      case 'Infinity':
        return Infinity;
      case '-Infinity':
        return -Infinity;
      case '-0':
        return -0;
      case 'undefined':
        return undefined;
      case 'bigint':
        return BigInt(o.v as string);
      case 'typed': {
        const Ctor = (globalThis as unknown as Record<string, new (n: number) => { fill(v: unknown): unknown }>)[
          o.kind as string
        ]!;
        const a = new Ctor(o.length as number);
        if (typeof o.fill === 'number')
          a.fill(o.kind === 'BigInt64Array' || o.kind === 'BigUint64Array' ? BigInt(o.fill) : o.fill);
        return a;
      }
      case 'buffer':
        return new ArrayBuffer(o.bytes as number);
      case 'dataview':
        return new DataView(new ArrayBuffer(o.bytes as number));
      case 'entries': {
        // Own keys, even "__proto__": defineProperty never touches the prototype.
        const out: Record<string, unknown> = {};
        for (const [k, v] of o.entries as [string, unknown][])
          Object.defineProperty(out, k, {
            value: decode(v, depth + 1),
            enumerable: true,
            configurable: true,
            writable: true,
          });
        return out;
      }
      case 'bigObject': {
        const out: Record<string, number> = {};
        for (let i = 0; i < (o.keys as number); i++) out[`k${i}`] = i;
        return out;
      }
      case 'longString':
        return ((o.char as string | undefined) ?? 'a').repeat(o.length as number);
      case 'deep': {
        let v: Record<string, unknown> = {};
        for (let i = 0; i < (o.depth as number); i++) v = { a: v };
        return v;
      }
      case 'array':
        return Array.from({ length: o.length as number }, () => decode(o.item, depth + 1));
      default: {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(o)) out[k] = decode(v, depth + 1);
        return out;
      }
    }
  };
  return decode(recipe, 0);
}
