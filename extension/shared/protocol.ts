/**
 * The one message protocol of every hop (page ⇄ bridge ⇄ background ⇄ engine host).
 *
 * A client sends `request` (a method with its params) or `abort`; the host answers with `progress` events and
 * exactly one `result` or `error`, all carrying the request id. Each method's params and result types are tied
 * to its name, so handlers need no casts. `validateClientMessage` is run at every hop before a message is used:
 * the page can post anything to the bridge, so nothing downstream trusts what came before it.
 */
import type { RequestLimits } from './request-table';
import { dataError, isErrorName, toWireError, WebqError, type WireError } from './errors';
import { checkMessages, type ChatMessage } from './messages';
import { isPlainObject, normalizeOptions, type NormalizedOptions } from './options';
import { checkTensor, isTypedArrayOf, LIMITS, type Tensor } from './tensor';
import {
  TASKS,
  type Calibration,
  type Capabilities,
  type ModelInfo,
  type ModelRef,
  type ModelSource,
  type Progress,
  type RunResult,
  type Task,
} from './types';

export interface Methods {
  capabilities: { params: Record<string, never>; result: Capabilities };
  load: { params: { model: ModelRef; options: NormalizedOptions }; result: ModelInfo };
  run: { params: { model: ModelRef; input: WireInput; options: NormalizedOptions }; result: RunResult };
  unload: { params: { model: ModelRef }; result: null };
  /** Measures webq's kernel shapes on this GPU and returns every time, the fastest marked (shown, not used yet). */
  calibrate: { params: Record<string, never>; result: Calibration };
  /** A `LanguageModel` operation (SPEC §8): sessions live in the engine with their KV cache. */
  session: { params: SessionParams; result: SessionReply };
}
export type Method = keyof Methods;

/** What a page asks of a language-model session; `session` is an id the engine gave this origin. */
export type SessionParams =
  | { op: 'availability'; model: ModelRef; options: NormalizedOptions }
  | { op: 'create'; model: ModelRef; options: NormalizedOptions; messages: ChatMessage[] }
  | { op: 'prompt'; session: string; messages: ChatMessage[]; options: NormalizedOptions }
  | { op: 'append' | 'measure'; session: string; messages: ChatMessage[] }
  | { op: 'clone' | 'destroy'; session: string };

export interface SessionReply {
  session?: string;
  contextUsage?: number;
  contextWindow?: number;
  /** prompt: the run's result; measure: the tokens the input would take; availability: what the model is here. */
  result?: RunResult;
  tokens?: number;
  availability?: 'unavailable' | 'downloadable' | 'downloading' | 'available';
}

/** Raw tensors by input name, or a task input (text, pixels, audio) already converted page-side. */
export type WireInput =
  | { kind: 'tensors'; tensors: Record<string, Tensor> }
  | { kind: 'text'; text: string[]; batched: boolean }
  | { kind: 'image'; images: { width: number; height: number; data: Uint8ClampedArray }[]; batched: boolean }
  | { kind: 'audio'; audio: Float32Array; sampleRate: number }
  | { kind: 'messages'; messages: ChatMessage[] };

/**
 * `gesture` is stamped by the isolated bridge (never taken from the page): whether the page had transient user
 * activation when it made the call. Only a call with it may open the consent prompt (SPEC §3).
 */
export type RequestMessage = {
  [M in Method]: {
    type: 'request';
    id: string;
    method: M;
    params: Methods[M]['params'];
    progress?: boolean;
    gesture?: boolean;
    /** Text generation: send the text as it is decoded (`delta` messages) before the result. */
    stream?: boolean;
  };
}[Method];
export type ClientMessage = RequestMessage | { type: 'abort'; id: string };

export type HostMessage =
  | { type: 'progress'; id: string; progress: Progress }
  | { type: 'delta'; id: string; text: string }
  | { type: 'result'; id: string; result: unknown }
  | { type: 'error'; id: string; error: WireError };

/**
 * Where a request came from, stamped by the background from the port's sender, never taken from the page.
 * `topOrigin` is the origin of the tab's top-level document (the partition of a page's models, SPEC §3); absent for
 * the extension's own pages.
 */
export interface Caller {
  origin: string;
  tabId?: number;
  topOrigin?: string;
}

export { TASKS };

/**
 * What the router sends the engine host: a checked client message under the router's own id, and the caller the
 * background stamped from the port's sender. The host trusts it (only the extension's own code is on that hop).
 */
export interface EngineEnvelope {
  message: ClientMessage;
  caller: Caller;
  /** Chrome: the router let this page's request through; its bridge may now send straight to the host (direct.ts). */
  grant?: RequestLimits;
}

/** The last message of a request (its result or error): every hop forgets the request after it. */
export function isFinal(message: HostMessage): boolean {
  return message.type === 'result' || message.type === 'error';
}
const METHODS: readonly Method[] = Object.freeze(['capabilities', 'load', 'run', 'unload', 'calibrate', 'session']);
const SESSION_ID = /^[0-9a-f-]{36}$/;
/** Generation options a LanguageModel session keeps for all its prompts. */
export const SESSION_DEFAULTS = Object.freeze([
  'temperature',
  'topK',
  'topP',
  'repetitionPenalty',
  'seed',
  'stop',
  'maxNewTokens',
] as const);
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_URL = 2048;

/** The id of a message that failed validation, when its id is a well-formed one (so the error can name it). */
export function replyIdOf(raw: unknown): string | null {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && ID.test(id) ? id : null;
}

export function plainObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw dataError(`${where} must be an object`);
  if (!isPlainObject(v)) throw dataError(`${where} must be a plain object`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) throw dataError(`${where} has an unknown field ${JSON.stringify(k.slice(0, 60))}`);
}

export function checkModelRef(v: unknown, where = 'model'): ModelRef {
  if (typeof v === 'string') {
    if (v.length === 0 || v.length > MAX_URL)
      throw dataError(`${where} must be a registry id or a URL of at most ${MAX_URL} characters`);
    return v;
  }
  const o = plainObject(v, where);
  onlyKeys(o, ['url', 'sha256', 'task', 'tokenizer', 'id'], where);
  if (typeof o.url !== 'string' || o.url.length === 0 || o.url.length > MAX_URL)
    throw dataError(`${where}.url must be a URL string`);
  const out: ModelSource = { url: o.url };
  if (o.sha256 !== undefined) {
    if (typeof o.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(o.sha256))
      throw dataError(`${where}.sha256 must be 64 hex digits`);
    out.sha256 = o.sha256.toLowerCase();
  }
  if (o.task !== undefined) {
    if (!TASKS.includes(o.task as Task)) throw dataError(`${where}.task must be one of ${TASKS.join(', ')}`);
    out.task = o.task as Task;
  }
  if (o.tokenizer !== undefined) {
    if (typeof o.tokenizer !== 'string' || o.tokenizer.length > MAX_URL)
      throw dataError(`${where}.tokenizer must be a URL string`);
    out.tokenizer = o.tokenizer;
  }
  if (o.id !== undefined) {
    if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 200)
      throw dataError(`${where}.id must be a non-empty string`);
    out.id = o.id;
  }
  return out;
}

export function checkWireInput(v: unknown): WireInput {
  const o = plainObject(v, 'input');
  switch (o.kind) {
    case 'tensors': {
      const tensors = plainObject(o.tensors, 'input');
      const names = Object.keys(tensors);
      if (names.length === 0) throw dataError('input has no tensors; pass { inputName: { type, data, dims } }');
      if (names.length > LIMITS.tensorsPerRequest)
        throw dataError(`input has ${names.length} tensors; at most ${LIMITS.tensorsPerRequest}`);
      const out: Record<string, Tensor> = Object.create(null);
      let bytes = 0;
      for (const name of names) {
        if (name.length === 0 || name.length > LIMITS.nameLength)
          throw dataError(`input name ${JSON.stringify(name.slice(0, 60))} is empty or too long`);
        const t = checkTensor(tensors[name], `input[${JSON.stringify(name)}]`);
        bytes += t.data.byteLength;
        out[name] = t;
      }
      if (bytes > LIMITS.requestBytes)
        throw new WebqError(
          'QuotaExceededError',
          `input holds ${bytes} bytes; at most ${LIMITS.requestBytes} (64 MiB) per request`,
        );
      return { kind: 'tensors', tensors: out };
    }
    case 'text': {
      if (
        !Array.isArray(o.text) ||
        o.text.length === 0 ||
        o.text.length > 256 ||
        !o.text.every((s) => typeof s === 'string')
      ) {
        throw dataError('input text must be a string or a non-empty array of at most 256 strings');
      }
      const total = (o.text as string[]).reduce((n, s) => n + s.length, 0);
      if (total > 1_000_000) throw dataError('input text is longer than 1,000,000 characters');
      return { kind: 'text', text: o.text as string[], batched: o.batched === true };
    }
    case 'image': {
      if (!Array.isArray(o.images) || o.images.length === 0 || o.images.length > 64)
        throw dataError('input images must be 1 to 64 images');
      const images = o.images.map((img, i) => {
        const im = plainObject(img, `input.images[${i}]`);
        const { width, height, data } = im;
        if (
          !Number.isInteger(width) ||
          !Number.isInteger(height) ||
          (width as number) < 1 ||
          (height as number) < 1 ||
          (width as number) * (height as number) > 64e6
        ) {
          throw dataError(`input.images[${i}] has invalid width/height`);
        }
        if (
          !isTypedArrayOf(data, 'Uint8ClampedArray') ||
          (data as Uint8ClampedArray).length !== (width as number) * (height as number) * 4
        ) {
          throw dataError(`input.images[${i}].data must be RGBA Uint8ClampedArray of width·height·4 bytes`);
        }
        return { width: width as number, height: height as number, data: data as Uint8ClampedArray };
      });
      return { kind: 'image', images, batched: o.batched === true };
    }
    case 'audio': {
      if (!isTypedArrayOf(o.audio, 'Float32Array') || (o.audio as Float32Array).length === 0)
        throw dataError('input.audio must be a non-empty Float32Array');
      if ((o.audio as Float32Array).byteLength > LIMITS.requestBytes)
        throw new WebqError('QuotaExceededError', 'input.audio is larger than 64 MiB');
      if (
        typeof o.sampleRate !== 'number' ||
        !Number.isInteger(o.sampleRate) ||
        o.sampleRate < 8000 ||
        o.sampleRate > 192000
      ) {
        throw dataError('input.sampleRate must be an integer from 8000 to 192000');
      }
      return { kind: 'audio', audio: o.audio as Float32Array, sampleRate: o.sampleRate };
    }
    case 'messages':
      return { kind: 'messages', messages: checkMessages(o.messages) };
    default:
      throw dataError('input kind must be tensors, text, image, audio or messages');
  }
}

/**
 * `validateClientMessage` at a hop that answers: the checked message, or null after `answer` got the error for a
 * message that failed (only a well-formed id gets one: `replyIdOf`). The bridge, the router and Chrome's direct
 * ports all take messages this way.
 */
export function validatedOrAnswered(raw: unknown, answer: (error: HostMessage) => void): ClientMessage | null {
  try {
    return validateClientMessage(raw);
  } catch (err) {
    const id = replyIdOf(raw);
    if (id) answer({ type: 'error', id, error: toWireError(err) });
    return null;
  }
}

/** Validates a message from a client; returns it rebuilt from checked fields only (no extra keys survive). */
export function validateClientMessage(raw: unknown): ClientMessage {
  const o = plainObject(raw, 'message');
  if (typeof o.id !== 'string' || !ID.test(o.id))
    throw dataError('message id must be 1–64 characters of [A-Za-z0-9_-]');
  if (o.type === 'abort') return { type: 'abort', id: o.id };
  if (o.type !== 'request') throw dataError('message type must be "request" or "abort"');
  if (!METHODS.includes(o.method as Method))
    throw dataError(`unknown method ${JSON.stringify(String(o.method).slice(0, 40))}`);
  const message = checkRequest(o, o.id);
  if (o.gesture === true) message.gesture = true;
  if (o.stream === true && (message.method === 'run' || message.method === 'session')) message.stream = true;
  return message;
}

function checkRequest(o: Record<string, unknown>, id: string): RequestMessage {
  const params = plainObject(o.params ?? {}, 'params');
  const progress = o.progress === true;
  switch (o.method as Method) {
    case 'capabilities':
      return { type: 'request', id, method: 'capabilities', params: {}, progress };
    case 'load':
      return {
        type: 'request',
        id,
        method: 'load',
        progress,
        params: { model: checkModelRef(params.model), options: normalizeOptions(params.options, 'load') },
      };
    case 'run':
      return {
        type: 'request',
        id,
        method: 'run',
        progress,
        params: {
          model: checkModelRef(params.model),
          input: checkWireInput(params.input),
          options: normalizeOptions(params.options, 'run'),
        },
      };
    case 'unload':
      return { type: 'request', id, method: 'unload', params: { model: checkModelRef(params.model) }, progress };
    case 'calibrate':
      return { type: 'request', id, method: 'calibrate', params: {}, progress };
    case 'session':
      return { type: 'request', id, method: 'session', params: checkSessionParams(params), progress };
  }
}

function checkSessionParams(p: Record<string, unknown>): SessionParams {
  const session = (): string => {
    if (typeof p.session !== 'string' || !SESSION_ID.test(p.session))
      throw dataError('params.session must be a session id');
    return p.session;
  };
  switch (p.op) {
    case 'availability':
      return { op: 'availability', model: checkModelRef(p.model), options: normalizeOptions(p.options, 'load') };
    case 'create': {
      // A session's generation defaults are kept with it; the rest are load options.
      const options = normalizeOptions(p.options, 'run');
      for (const key of Object.keys(options)) {
        if ((SESSION_DEFAULTS as readonly string[]).includes(key)) continue;
        normalizeOptions({ [key]: (options as Record<string, unknown>)[key] }, 'load');
      }
      return {
        op: 'create',
        model: checkModelRef(p.model),
        options,
        messages: p.messages === undefined ? [] : checkMessagesOrNone(p.messages),
      };
    }
    case 'prompt':
      return {
        op: 'prompt',
        session: session(),
        messages: checkMessages(p.messages),
        options: normalizeOptions(p.options, 'run'),
      };
    case 'append':
    case 'measure':
      return { op: p.op, session: session(), messages: checkMessages(p.messages) };
    case 'clone':
    case 'destroy':
      return { op: p.op, session: session() };
    default:
      throw dataError('params.op must be availability, create, prompt, append, measure, clone or destroy');
  }
}

/** initialPrompts may be empty. */
function checkMessagesOrNone(v: unknown): ChatMessage[] {
  return Array.isArray(v) && v.length === 0 ? [] : checkMessages(v);
}

/** Validates a message from the host (the page checks what it gets back, too). */
export function validateHostMessage(raw: unknown): HostMessage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const o = raw as Record<string, unknown>;
  if (typeof o.id !== 'string' || !ID.test(o.id)) return null;
  switch (o.type) {
    case 'progress': {
      const p = o.progress as Record<string, unknown> | undefined;
      if (
        !p ||
        !['download', 'cache', 'quantize', 'compile', 'calibrate'].includes(p.phase as string) ||
        typeof p.loaded !== 'number' ||
        typeof p.total !== 'number'
      )
        return null;
      return {
        type: 'progress',
        id: o.id,
        progress: { phase: p.phase as Progress['phase'], loaded: p.loaded, total: p.total },
      };
    }
    case 'delta':
      return typeof o.text === 'string' ? { type: 'delta', id: o.id, text: o.text } : null;
    case 'result':
      return { type: 'result', id: o.id, result: o.result };
    case 'error': {
      const e = o.error as Record<string, unknown> | undefined;
      if (!e || !isErrorName(e.name) || typeof e.message !== 'string') return null;
      return { type: 'error', id: o.id, error: { name: e.name, message: e.message } };
    }
    default:
      return null;
  }
}
