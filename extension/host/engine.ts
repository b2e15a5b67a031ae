/**
 * The engine host (SPEC §1): owns the GPU device, the WebNN contexts and the loaded models, and turns each
 * request into exactly one reply. It has no extension dependency, so it runs in Chrome's offscreen document, in
 * Firefox's background page, and in a plain page (the WebNN test harness).
 *
 * Registry models are shared by all callers (downloaded once for all sites); a model URL a page names is kept in
 * that page's partition (its top-level origin), in memory and in the cache, so no site can learn what another
 * loaded (SPEC §3). Each caller origin holds a reference, and `unload` drops only the caller's. Runs on one model
 * are queued; sessions are created one at a time (ort.ts).
 */
import { toWireError, WebqError } from '../shared/errors';
import type { NormalizedOptions, OptionName } from '../shared/options';
import type { Caller, ClientMessage, HostMessage, Methods, RequestMessage, WireInput } from '../shared/protocol';
import type { WireTensor } from '../shared/tensor';
import type { Capabilities, ConcreteBackend, ModalityDefaults, ModelInfo, ModelRef, PerformanceMetrics, Profile, ProgressPhase, RunResult } from '../shared/types';
import type { GraphRunner, ModelFiles, TaskPipeline } from '../tasks/types';
import type { BrowserInfo } from './browser-info';
import { resolveModel, type Fetcher, type Resolved } from './resolve';
import { download } from './download';
import { adapterLimits, getGpu, gpuUnavailableReason, lostSignal, onDeviceLost, type GpuInfo } from './gpu';
import { calibrate, storedCalibration } from './calibrate';
import { checkFeeds, freeDimensionsFrom, type GraphIo } from './graph';
import { createSession, run as runSession, type Session } from './ort';
import { chooseProfile, isProfileKey, PROFILE_OVERRIDE_SETTING } from './profile';
import { prepareOffThread } from './prepare-off-thread';
import { cacheKey, readEntry, readSetting, writeEntry } from './cache';
import type { Prepared } from './prepare';
import type { PrecisionPolicy } from '../onnx';
import { getWebnn, webnnMinBits, webnnStatus, type WebnnDevice } from './webnn';

export interface EngineEnv {
  browser: BrowserInfo;
  /** The extension's own origin (its UI pages call without consent and may load any https model). */
  extensionOrigin?: string;
}

/** Options that only mean something when weights are quantized (workgroupSize: of webq's GPU quantize kernels). */
const QUANTIZATION_OPTIONS: readonly OptionName[] = ['scheme', 'groupSize', 'mixedPrecision', 'attentionPrecision', 'embeddingPrecision', 'skipLayerNorm', 'workgroupSize'];
const TASK_OPTIONS: readonly OptionName[] = ['normalize', 'topK', 'maxNewTokens', 'language'];

interface Job { signal: AbortSignal; progress(phase: ProgressPhase, loaded: number, total: number): void }

/** What a load hands to a run: the graph(s), the task's prepared assets, and the report of this call. */
interface Loaded {
  resolved: Resolved;
  graphs: Map<string, LoadedModel>;
  main: LoadedModel;
  assets: unknown;
  info: ModelInfo;
  loadTimeMs?: number;
  fallbacks: string[];
  /** The profile this load was planned with (the run reports it). */
  profile: string;
}

/** How every graph of one load is placed and quantized. */
interface Plan {
  target: { backend: ConcreteBackend; webnnDevice?: WebnnDevice };
  policy: PrecisionPolicy | null;
  variant: string;
  shaderPrecompilation: boolean;
  /** Quantize with webq's GPU kernels at this workgroup; such a load bypasses the quantized-variant cache. */
  workgroupSize?: [number, number, number];
}

interface LoadedModel {
  key: string;
  source: string;
  /** The cache and memory partition it belongs to (resolve.ts). */
  partition: string;
  sha256: string;
  io: GraphIo;
  info: ModelInfo;
  /** Kept only for WebNN, which compiles one session per pinned shape; other backends drop it after load. */
  bytes: Uint8Array | null;
  /** One session, or for WebNN one per pinned shape (WebNN needs static shapes). */
  sessions: Map<string, Promise<Session>>;
  target: { backend: ConcreteBackend; webnnDevice?: WebnnDevice };
  /** WebGPU: rejects when the session's device is lost, so no request waits on a dead device. */
  lost?: Promise<never>;
  /** Set when a WebGPU run failed: the session is not used again (see run()). */
  broken?: string;
  users: Set<string>;
  queue: Promise<unknown>;
  fallbacks: string[];
}

const MAX_WEBNN_SHAPES = 4;
/** Warm-up feeds are zeros of the model's static input shapes: a hostile model could name huge ones. */
const MAX_WARM_UP_ELEMENTS = 16 * 2 ** 20;
/** A task's JSON files (tokenizer.json of a 250k-token vocabulary is ≈ 20 MB) are read whole and parsed: capped. */
const COMPANION_MAX_BYTES = 64 * 2 ** 20;

export class Engine {
  private readonly models = new Map<string, LoadedModel>();
  private readonly loading = new Map<string, { promise: Promise<LoadedModel>; waiters: number; controller: AbortController }>();
  private readonly jobs = new Map<string, AbortController>();
  /** Task assets (tokenizers, labels, preprocessing configs) by model, read once per engine. */
  private readonly assets = new Map<string, Promise<unknown>>();
  /** Set when the host is going away: requests still running then are answered with this OperationError. */
  private closing: string | null = null;
  private gpuFacts: Promise<{ emulated: boolean; features: string[]; gpu: GpuInfo } | null> | null = null;

  constructor(private readonly env: EngineEnv) {
    onDeviceLost(() => {
      // Sessions built on the lost device are useless; the next request loads them again on a new device.
      for (const [key, model] of this.models) if (model.target.backend === 'webgpu') this.models.delete(key);
      this.gpuFacts = null;
    });
  }

  /**
   * The host is going away: every request in flight fails with OperationError(`reason`) — whatever its work
   * reports as it is cut off — and so does any that still arrives.
   */
  close(reason: string): void {
    this.closing = reason;
  }

  /** Turns one client message into its reply (and progress events). Never throws. */
  receive(message: ClientMessage, caller: Caller, emit: (m: HostMessage) => void): void {
    if (message.type === 'abort') {
      this.jobs.get(message.id)?.abort();
      return;
    }
    if (this.closing) {
      emit({ type: 'error', id: message.id, error: { name: 'OperationError', message: this.closing } });
      return;
    }
    const controller = new AbortController();
    this.jobs.set(message.id, controller);
    const job: Job = {
      signal: controller.signal,
      progress: (phase, loaded, total) => { if (message.progress) emit({ type: 'progress', id: message.id, progress: { phase, loaded, total } }); },
    };
    this.handle(message, caller, job).then(
      (result) => { if (!controller.signal.aborted) emit({ type: 'result', id: message.id, result }); },
      (err) => {
        const error = this.closing ? { name: 'OperationError' as const, message: this.closing }
          : controller.signal.aborted ? { name: 'AbortError' as const, message: 'the request was aborted' } : toWireError(err);
        emit({ type: 'error', id: message.id, error });
      },
    ).finally(() => this.jobs.delete(message.id));
  }

  private async handle(message: RequestMessage, caller: Caller, job: Job): Promise<Methods[typeof message.method]['result']> {
    switch (message.method) {
      case 'capabilities': return this.capabilities(caller);
      case 'load': {
        const { info, fallbacks } = await this.load(message.params.model, message.params.options, caller, job);
        return { ...info, fallbacks };
      }
      case 'run': return this.run(message.params.model, message.params.input, message.params.options, caller, job);
      case 'unload': await this.unload(message.params.model, caller); return null;
      case 'calibrate': {
        // A calibration is global and timed: exposed to pages it would be a cross-site identifier (SPEC §3).
        if (this.isPage(caller)) throw new WebqError('NotAllowedError', 'calibration is run from webq\'s options page, not by web pages');
        const gpu = await getGpu();
        if (!gpu) throw new WebqError('NotSupportedError', `calibrate measures webq's WebGPU kernels, and WebGPU is not available: ${gpuUnavailableReason}`);
        return calibrate(gpu, job.signal, (done, total) => job.progress('calibrate', done, total));
      }
    }
  }

  /** A web page's call, as opposed to one from the extension's own pages (which act for the user). */
  private isPage(caller: Caller): boolean {
    return caller.origin !== this.env.extensionOrigin;
  }

  /** Who a caller's model URLs are fetched for, and the partition they are kept in (its top-level origin). */
  private fetcherFor(caller: Caller): Fetcher {
    return { requester: { origin: caller.origin, page: this.isPage(caller) }, partition: caller.topOrigin ?? caller.origin };
  }

  async capabilities(caller: Caller): Promise<Capabilities> {
    const [gpu, webnn, { profile }] = await Promise.all([getGpu(), webnnStatus('gpu'), this.profile(this.isPage(caller))]);
    return {
      browser: { name: this.env.browser.name, version: this.env.browser.version },
      webgpu: gpu
        ? {
          available: true,
          adapter: { vendor: gpu.info.vendor, architecture: gpu.info.architecture, description: gpu.info.description || gpu.info.device, emulated: gpu.emulated },
          features: [...gpu.adapter.features].sort(),
          limits: adapterLimits(gpu.adapter),
        }
        : { available: false, reason: gpuUnavailableReason, features: [], limits: {} },
      webnn,
      wasm: { threads: 1, simd: wasmSimd() },
      profile,
    };
  }

  /**
   * The profile in use: chosen from the detected browser and GPU, or from the options page's override (which
   * stands in for the detected browser; the emulated-GPU order and the feature checks still apply), with this
   * adapter's calibration when it has been run from the options page — for the extension's own pages only: pages
   * see no calibration result, time or flag (SPEC §3). Settings are read through readSetting, which keeps them in
   * memory and hears of changes over a BroadcastChannel, so a change applies without restarting the engine; an
   * unreadable setting means no override.
   */
  private async profile(forPage: boolean): Promise<{ profile: Profile; emulated: boolean }> {
    this.gpuFacts ??= getGpu().then((gpu) => (gpu ? { emulated: gpu.emulated, features: [...gpu.adapter.features], gpu } : null));
    const facts = await this.gpuFacts;
    const override = await readSetting(PROFILE_OVERRIDE_SETTING).catch(() => undefined);
    const calibration = facts && !forPage ? await storedCalibration(facts.gpu).catch(() => undefined) : undefined;
    const browser = isProfileKey(override) ? { ...this.env.browser, name: override } : this.env.browser;
    return { profile: chooseProfile(browser, facts, calibration), emulated: facts?.emulated ?? false };
  }

  /** Picks the backend: the one asked for (refused with NotSupportedError if absent), or the profile's order. */
  private async chooseBackend(options: NormalizedOptions, fallbacks: string[], profile: Profile, emulated: boolean): Promise<{ backend: ConcreteBackend; webnnDevice?: WebnnDevice }> {
    const asked = options.backend ?? 'auto';
    const webnnDevice: WebnnDevice = options.devicePreference ?? 'gpu';
    if (options.devicePreference && asked !== 'auto' && asked !== 'webnn') {
      throw new WebqError('DataError', `option devicePreference selects a WebNN device; it does not apply to backend "${asked}"`);
    }
    const available = async (b: ConcreteBackend): Promise<string | null> => {
      if (b === 'wasm') return null;
      if (b === 'webgpu') return (await getGpu()) ? null : gpuUnavailableReason;
      const status = await webnnStatus(webnnDevice);
      return status.available ? null : status.reason ?? 'WebNN is unavailable';
    };
    if (asked !== 'auto') {
      const reason = await available(asked);
      if (reason) throw new WebqError('NotSupportedError', `backend "${asked}" is not available here: ${reason}`);
      return { backend: asked, webnnDevice: asked === 'webnn' ? webnnDevice : undefined };
    }
    for (const b of profile.backendOrder) {
      const reason = await available(b);
      if (!reason) {
        if (emulated && b !== 'webgpu') fallbacks.push(`webgpu: the adapter is emulated on the CPU, auto chose ${b}`);
        return { backend: b, webnnDevice: b === 'webnn' ? webnnDevice : undefined };
      }
      fallbacks.push(`${b}: ${reason}`);
    }
    return { backend: 'wasm' };
  }

  private checkOptions(options: NormalizedOptions, pipeline: TaskPipeline | null, builtIn: boolean): void {
    const quantizing = options.useQuantization === true || (options.bits !== undefined && options.bits !== 32);
    for (const key of QUANTIZATION_OPTIONS) {
      // Built-in models are quantized by their profile unless told not to, so their quantization options apply.
      if (options[key] !== undefined && !quantizing && !(builtIn && options.useQuantization !== false && options.bits === undefined)) {
        throw new WebqError('DataError', `option ${key} applies when weights are quantized: add bits (2, 4, 8 or 16) or useQuantization: true`);
      }
    }
    for (const key of ['attentionPrecision', 'embeddingPrecision'] as const) {
      if (options[key] !== undefined && options.mixedPrecision !== true) throw new WebqError('DataError', `option ${key} applies under mixed precision: add mixedPrecision: true`);
    }
    for (const key of TASK_OPTIONS) {
      if (options[key] === undefined) continue;
      if (!pipeline) throw new WebqError('DataError', `option ${key} applies to task models only; this model is a raw ONNX model`);
      if (!(pipeline.runOptions as readonly string[]).includes(key)) {
        throw new WebqError('DataError', `option ${key} does not apply to task "${pipeline.task}"${pipeline.runOptions.length ? `; it takes ${pipeline.runOptions.join(', ')}` : ''}`);
      }
    }
  }

  /**
   * Everything a request needs loaded: each graph (shared by all callers, loaded once), and a task's assets.
   * `fallbacks` are this call's own substitutions merged with the model's: a model already in memory was loaded
   * by another call, whose `fallbacks` do not say what this call's options were changed to.
   */
  private async load(ref: ModelRef, options: NormalizedOptions, caller: Caller, job: Job): Promise<Loaded> {
    const started = performance.now();
    const resolved = await resolveModel(ref, this.fetcherFor(caller));
    const pipeline = resolved.kind === 'task' ? resolved.pipeline : null;
    this.checkOptions(options, pipeline, resolved.kind === 'task' && resolved.builtIn);
    const fallbacks: string[] = [];
    const { profile, emulated } = await this.profile(this.isPage(caller));
    const target = await this.chooseBackend(options, fallbacks, profile, emulated);
    const defaults = resolved.kind === 'task' && resolved.builtIn ? profile.modalities[resolved.pipeline.modality] : null;
    const policy = await this.policyFor(options, target, fallbacks, defaults, profile);
    const variant = policy ? `q${policy.bits}${policy.scheme[0]}${policy.groupSize}${policy.mixedPrecision ? `m${policy.attentionPrecision}.${policy.embeddingPrecision}` : ''}${policy.skipLayerNorm ? '' : 'n'}${policy.quantizeEmbeddingTables ? '' : 'e'}` : 'src';
    const plan: Plan = { target, policy, variant, shaderPrecompilation: options.shaderPrecompilation ?? defaults?.shaderPrecompilation ?? false, workgroupSize: options.workgroupSize };
    if (defaults && options.bits === undefined && options.useQuantization === undefined && resolved.kind === 'task') {
      // SPEC §6: every choice a profile made shows in the run's report.
      fallbacks.push(`profile ${profile.name}: ${resolved.pipeline.modality} models at ${policy ? `${policy.bits}-bit${policy.mixedPrecision ? ' with mixed precision' : ''}` : 'fp32'}${plan.shaderPrecompilation && options.shaderPrecompilation === undefined ? ', shaders compiled at load' : ''}`);
    }
    const graphUrls = resolved.kind === 'raw' ? [['model', resolved.url] as [string, URL]] : resolved.graphs;
    const graphs = new Map<string, LoadedModel>();
    let firstUse = false;
    // One graph at a time: sessions are created one at a time anyway (ort.ts), and a failure stops the rest.
    for (const [index, [role, url]] of graphUrls.entries()) {
      const { model, first } = await this.acquire(url, resolved, index === 0 ? resolved.sha256 : undefined, plan, caller, job, fallbacks);
      graphs.set(role, model);
      firstUse ||= first;
    }
    const main = graphs.values().next().value!;
    const all = [...graphs.values()].flatMap((g) => g.fallbacks);
    let assets: unknown = null;
    if (resolved.kind === 'task') assets = await this.taskAssets(resolved, job, fallbacks);
    const merged = merge(all, fallbacks);
    const info = this.describe(resolved, graphs, merged);
    return { resolved, graphs, main, assets, info, fallbacks: merged, loadTimeMs: firstUse ? performance.now() - started : undefined, profile: profile.name };
  }

  /** One graph for a load: in memory already, being loaded by another call (then shared), or loaded now. */
  private async acquire(url: URL, from: Fetcher, sha256: string | undefined, plan: Plan, caller: Caller, job: Job, fallbacks: string[]): Promise<{ model: LoadedModel; first: boolean }> {
    const { target } = plan;
    const key = `${from.partition}|${url.href}#${target.backend}${target.webnnDevice ? `:${target.webnnDevice}` : ''}#${plan.variant}${plan.shaderPrecompilation ? '+warm' : ''}${plan.workgroupSize ? `+wg${plan.workgroupSize.join('x')}` : ''}`;
    const existing = this.models.get(key);
    if (existing) {
      checkSha256(existing, sha256);
      const first = !existing.users.has(caller.origin);
      existing.users.add(caller.origin);
      return { model: existing, first };
    }
    let entry = this.loading.get(key);
    if (!entry) {
      const controller = new AbortController();
      // The model keeps its own copy of the notes so far: later calls add theirs to their own list.
      const promise = this.loadModel(key, url, from, sha256, plan, [...fallbacks], controller.signal, job)
        .finally(() => this.loading.delete(key));
      entry = { promise, waiters: 0, controller };
      this.loading.set(key, entry);
    }
    // The shared load is aborted only when every caller waiting for it has aborted.
    const shared = entry;
    shared.waiters++;
    const onAbort = () => { if (--shared.waiters === 0) shared.controller.abort(); };
    job.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const model = await shared.promise;
      // A call that joined a load started by another must still get the bytes it named.
      checkSha256(model, sha256);
      model.users.add(caller.origin);
      return { model, first: true };
    } finally {
      job.signal.removeEventListener('abort', onAbort);
      if (!job.signal.aborted) shared.waiters--;
    }
  }

  /**
   * A task's assets, prepared once per (task, graph, companion files): each file comes through the same
   * download → cache path as the graphs (so a second load never touches the network), parsed as JSON.
   */
  private taskAssets(resolved: Extract<Resolved, { kind: 'task' }>, job: Job, fallbacks: string[]): Promise<unknown> {
    const { pipeline } = resolved;
    const key = `${resolved.partition}|${pipeline.task}|${resolved.graphs[0]![1].href}|${resolved.file('tokenizer.json').href}`;
    let assets = this.assets.get(key);
    if (!assets) {
      const read = async (name: string): Promise<unknown> => {
        const url = resolved.file(name);
        const source = await this.sourceBytes(url, resolved, undefined, job.signal, job, fallbacks, COMPANION_MAX_BYTES);
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(source.bytes));
        } catch {
          // No parser text: it quotes the body, which must never reach a page that could not read it.
          throw new WebqError('DataError', `${name} of model ${resolved.id} is not valid JSON (${url.href})`);
        }
        await source.store();
        return parsed;
      };
      const files: ModelFiles = {
        json: read,
        optionalJson: (name) => read(name).catch((err) => {
          if (err instanceof WebqError && err.name === 'NotFoundError') return undefined;
          throw err;
        }),
      };
      assets = pipeline.prepare(files);
      this.assets.set(key, assets);
      assets.catch(() => this.assets.delete(key));
    }
    return assets;
  }

  /** The load's report: one graph's own, or for a task model the main graph's precision and every graph's bytes. */
  private describe(resolved: Resolved, graphs: Map<string, LoadedModel>, fallbacks: string[]): ModelInfo {
    const main = graphs.values().next().value!;
    if (resolved.kind === 'raw') return { ...main.info, id: resolved.id, fallbacks };
    const several = graphs.size > 1;
    const parts = [...graphs].map(([role, g]) => ({ role, info: g.info }));
    return {
      ...main.info,
      id: resolved.id,
      task: resolved.pipeline.task,
      modelBytes: parts.reduce((n, p) => n + p.info.modelBytes, 0),
      originalBytes: parts.reduce((n, p) => n + p.info.originalBytes, 0),
      // Weight names are per graph; with several graphs each is prefixed by its graph's role.
      weights: parts.flatMap((p) => p.info.weights.map((w) => (several ? { ...w, name: `${p.role}:${w.name}` } : w))),
      fallbacks,
    };
  }

  /**
   * The precision policy of a load, or null to run the weights as they are. A raw model URL is quantized only
   * when the options ask for it (SPEC §2); a built-in model (`defaults`: its modality's profile entry) at its
   * profile's precision unless the options say otherwise. Unspecified fields come from the profile. Backends that
   * cannot run a bit width get the nearest they can, recorded in `fallbacks`.
   */
  private async policyFor(options: NormalizedOptions, target: Plan['target'], fallbacks: string[], defaults: ModalityDefaults | null, profile: Profile): Promise<PrecisionPolicy | null> {
    if (options.useQuantization === false) return null;
    const base = defaults ?? { bits: profile.bits, mixedPrecision: profile.mixedPrecision };
    let bits = options.bits ?? (options.useQuantization || defaults ? base.bits : 32);
    if (bits === 32) return null;
    if (target.backend === 'webnn' && bits < 16) {
      const min = await webnnMinBits(target.webnnDevice ?? 'gpu');
      if (bits < min) {
        fallbacks.push(`webnn: ${bits}-bit unsupported, used ${min}-bit`);
        bits = min;
      }
    }
    return {
      bits,
      scheme: options.scheme ?? profile.scheme,
      groupSize: options.groupSize ?? profile.groupSize,
      mixedPrecision: options.mixedPrecision ?? (options.bits === undefined ? base.mixedPrecision : false),
      attentionPrecision: options.attentionPrecision ?? 8,
      embeddingPrecision: options.embeddingPrecision ?? 8,
      skipLayerNorm: options.skipLayerNorm ?? true,
      // onnxruntime-web has GatherBlockQuantized on WebGPU only (see PrecisionPolicy).
      quantizeEmbeddingTables: target.backend === 'webgpu',
    };
  }

  /**
   * The source bytes of a file: from the partition's cache when a complete, intact copy is there (and matches the
   * sha256 the page gave), else downloaded for the requester. Downloaded bytes are cached by `store()`, which the
   * caller calls only once they have proved to be what was asked for (a model that parses, JSON that parses), so
   * no site can plant other bytes in the cache. Cache trouble never fails a load; it is reported in `fallbacks`.
   */
  private async sourceBytes(url: URL, from: Fetcher, sha256: string | undefined, signal: AbortSignal, job: Job, fallbacks: string[], maxBytes?: number): Promise<{ bytes: Uint8Array; sha256: string; store(): Promise<void> }> {
    const key = cacheKey(url.href, 'src', from.partition);
    const hit = await readEntry(key, (loaded, total) => job.progress('cache', loaded, total))
      .catch((err) => { fallbacks.push(`cache: could not read (${(err as Error).message})`); return { miss: 'absent' as const }; });
    if ('entry' in hit && (!sha256 || hit.entry.sha256 === sha256)) return { bytes: hit.bytes, sha256: hit.entry.sha256, store: async () => undefined };
    if ('miss' in hit && hit.miss !== 'absent') fallbacks.push(`cache: the cached copy of ${url.href} was ${hit.miss}; downloaded it again`);
    const downloaded = await download(url, { signal, sha256, maxBytes, requester: from.requester, onProgress: (loaded, total) => job.progress('download', loaded, total) });
    const store = () => writeEntry({ source: url.href, variant: 'src', site: from.partition, sourceSha256: downloaded.sha256, meta: null }, downloaded.bytes)
      .then(() => undefined, (err) => { fallbacks.push(`cache: model not cached (${(err as Error).name}: ${(err as Error).message})`); });
    return { ...downloaded, store };
  }

  /** A quantized variant: from the cache (no download, no quantization) or prepared from the source and cached. */
  private async preparedBytes(url: URL, from: Fetcher, sha256: string | undefined, quant: Pick<Plan, 'policy' | 'variant' | 'workgroupSize'>, signal: AbortSignal, job: Job, fallbacks: string[]): Promise<{ prepared: Prepared; sourceSha256: string }> {
    // A workgroupSize load asks for webq's kernels to quantize, so it neither reads nor writes the quantized variant.
    const cached = quant.policy !== null && !quant.workgroupSize;
    if (cached) {
      const hit = await readEntry<Omit<Prepared, 'bytes'>>(cacheKey(url.href, quant.variant, from.partition), (loaded, total) => job.progress('cache', loaded, total))
        .catch(() => ({ miss: 'absent' as const }));
      if ('entry' in hit && (!sha256 || hit.entry.sourceSha256 === sha256)) {
        return { prepared: { ...hit.entry.meta, bytes: hit.bytes }, sourceSha256: hit.entry.sourceSha256 };
      }
    }
    const source = await this.sourceBytes(url, from, sha256, signal, job, fallbacks);
    if (quant.policy) job.progress('quantize', 0, 1);
    // Preparation parses the graph: the source is cached only once it has proved to be an ONNX model.
    const prepared = await prepareOffThread(source.bytes, quant.policy, signal, { workgroupSize: quant.workgroupSize });
    if (quant.policy) job.progress('quantize', 1, 1);
    await source.store();
    if (cached) {
      const { bytes, ...meta } = prepared;
      await writeEntry({ source: url.href, variant: quant.variant, site: from.partition, sourceSha256: source.sha256, meta }, bytes)
        .catch((err) => fallbacks.push(`cache: quantized variant not cached (${(err as Error).name}: ${(err as Error).message})`));
    }
    return { prepared, sourceSha256: source.sha256 };
  }

  private async loadModel(key: string, url: URL, from: Fetcher, sha256: string | undefined, plan: Plan, fallbacks: string[], signal: AbortSignal, job: Job): Promise<LoadedModel> {
    const { policy, target } = plan;
    const { prepared, sourceSha256: digest } = await this.preparedBytes(url, from, sha256, plan, signal, job, fallbacks);
    fallbacks.push(...prepared.notes);
    const { report, io } = prepared;
    let { modelBytes } = report;
    if (report.mayExpandAtRuntime.length > 0) {
      // onnxruntime constant-folds fp16 weights behind a Cast back to fp32 at session creation: count what is held.
      const expanded = report.weights.filter((w) => report.mayExpandAtRuntime.includes(w.name));
      modelBytes += expanded.reduce((n, w) => n + w.originalBytes - w.bytes, 0);
      fallbacks.push(`16-bit: onnxruntime folds fp16 weights back to fp32 when it optimises the graph; ${expanded.length} weights are held at fp32`);
    }
    const detectedBits = report.preQuantized.detected ? Math.max(...report.preQuantized.bits) : 32;
    const model: LoadedModel = {
      key, source: url.href, partition: from.partition, sha256: digest, bytes: prepared.bytes, io, target, fallbacks,
      sessions: new Map(), users: new Set(), queue: Promise.resolve(),
      info: {
        id: url.href, source: url.href, task: null, backend: target.backend,
        bits: (policy?.bits ?? detectedBits) as ModelInfo['bits'],
        scheme: policy?.scheme ?? null,
        groupSize: policy?.groupSize ?? null,
        mixedPrecision: policy?.mixedPrecision ?? false,
        modelBytes, originalBytes: report.originalBytes,
        weights: report.weights.map((w) => ({ name: w.name, op: w.op, precision: report.mayExpandAtRuntime.includes(w.name) ? 32 : w.precision })),
        inputs: io.inputs, outputs: io.outputs, fallbacks,
      },
    };
    if (target.backend !== 'webnn') {
      job.progress('compile', 0, 1);
      const session = this.newSession(model, undefined);
      model.sessions.set('', session);
      await session;
      model.bytes = null; // ORT holds its own copy now
      if (plan.shaderPrecompilation) await this.warmUp(model, await session);
      job.progress('compile', 1, 1);
    } else if (plan.shaderPrecompilation && io.inputs.every((i) => i.dims.every((d) => typeof d === 'number'))) {
      const session = this.sessionFor(model, {});
      await this.warmUp(model, await session);
    }
    if (signal.aborted) throw new WebqError('AbortError', 'the load was aborted');
    this.models.set(key, model);
    return model;
  }

  private async newSession(model: LoadedModel, freeDimensionOverrides: Record<string, number> | undefined): Promise<Session> {
    const { backend, webnnDevice } = model.target;
    try {
      if (backend === 'webgpu') {
        const gpu = await getGpu();
        if (!gpu) throw new WebqError('NotSupportedError', `WebGPU is not available: ${gpuUnavailableReason}`);
        model.lost = lostSignal(gpu.device);
        return await createSession(model.bytes!, { backend, device: gpu.device, lost: model.lost });
      }
      if (backend === 'webnn') {
        const webnn = await getWebnn(webnnDevice ?? 'gpu');
        return await createSession(model.bytes!, { backend, webnn, freeDimensionOverrides });
      }
      return await createSession(model.bytes!, { backend });
    } catch (err) {
      if (err instanceof WebqError) throw err;
      throw new WebqError('OperationError', `onnxruntime-web could not create a ${backend} session for this model: ${(err as Error).message}`);
    }
  }

  /** WebNN compiles for static shapes: one session per pinned set of free dimensions (a few kept). */
  private sessionFor(model: LoadedModel, feeds: Record<string, WireTensor>): Promise<Session> {
    if (model.target.backend !== 'webnn') return model.sessions.get('')!;
    const dims = freeDimensionsFrom(model.io, feeds);
    const shapeKey = JSON.stringify(dims);
    let session = model.sessions.get(shapeKey);
    if (!session) {
      if (model.sessions.size >= MAX_WEBNN_SHAPES) {
        const [oldestKey, oldest] = model.sessions.entries().next().value!;
        model.sessions.delete(oldestKey);
        void oldest.then((s) => s.release()).catch(() => undefined);
      }
      session = this.newSession(model, dims);
      session.catch(() => model.sessions.delete(shapeKey));
      model.sessions.set(shapeKey, session);
    }
    return session;
  }

  /** shaderPrecompilation: one run at load time on zero inputs, so the first real run does not compile. */
  private async warmUp(model: LoadedModel, session: Session): Promise<void> {
    const feeds: Record<string, WireTensor> = {};
    let elements = 0;
    for (const input of model.io.inputs) {
      const dims = input.dims.map((d) => (typeof d === 'number' ? d : 1));
      const count = dims.reduce((a, b) => a * b, 1);
      elements += count;
      if (elements > MAX_WARM_UP_ELEMENTS) {
        model.fallbacks.push(`shaderPrecompilation: the inputs hold more than ${MAX_WARM_UP_ELEMENTS} elements; shaders compile on the first run`);
        return;
      }
      const data = input.type === 'int64' ? new BigInt64Array(count) : input.type === 'int32' ? new Int32Array(count)
        : input.type === 'float16' ? new Uint16Array(count) : input.type === 'int8' ? new Int8Array(count)
        : input.type === 'uint8' || input.type === 'bool' ? new Uint8Array(count) : new Float32Array(count);
      feeds[input.name] = { type: input.type as WireTensor['type'], dims, data };
    }
    try {
      await runSession(session, feeds);
    } catch (err) {
      model.fallbacks.push(`shaderPrecompilation: warm-up run failed (${(err as Error).message.slice(0, 120)}); shaders compile on the first run`);
    }
  }

  private async run(ref: ModelRef, input: WireInput, options: NormalizedOptions, caller: Caller, job: Job): Promise<RunResult> {
    const loaded = await this.load(ref, options, caller, job);
    const { resolved, main, info } = loaded;
    let output: unknown;
    let ms: number;
    if (resolved.kind === 'raw') {
      if (input.kind !== 'tensors') throw new WebqError('DataError', `this model is a raw ONNX model: pass tensors { ${main.io.inputs.map((i) => i.name).join(', ')} }, not ${input.kind}`);
      checkFeeds(main.io, input.tensors);
      ({ outputs: output, ms } = await this.runGraph(main, input.tensors, job));
    } else {
      const started = performance.now();
      const graphs: GraphRunner = {
        signal: job.signal,
        io: (role) => {
          const g = loaded.graphs.get(role);
          if (!g) throw new WebqError('OperationError', `task ${resolved.pipeline.task} has no graph "${role}"`);
          return g.io;
        },
        run: async (role, feeds) => {
          const g = loaded.graphs.get(role);
          if (!g) throw new WebqError('OperationError', `task ${resolved.pipeline.task} has no graph "${role}"`);
          checkFeeds(g.io, feeds);
          return (await this.runGraph(g, feeds, job)).outputs;
        },
      };
      output = await resolved.pipeline.run(loaded.assets, input, options, graphs);
      // A task's inference is the whole pipeline: tokenising, the graphs (a decoder's every step), post-processing.
      ms = performance.now() - started;
    }
    const metrics: PerformanceMetrics = {
      inferenceTimeMs: ms,
      totalTimeMs: ms, // replaced page-side with the time from the call to its result
      ...(loaded.loadTimeMs !== undefined ? { loadTimeMs: loaded.loadTimeMs } : {}),
      backend: main.target.backend,
      quantizationBits: info.bits,
      quantizationScheme: info.scheme,
      mixedPrecision: info.mixedPrecision,
      modelBytes: info.modelBytes,
      originalBytes: info.originalBytes,
      memoryReductionPercent: info.originalBytes > 0 ? 100 * (1 - info.modelBytes / info.originalBytes) : 0,
      browser: `${this.env.browser.name} ${this.env.browser.version}`,
      profile: loaded.profile,
      fallbacks: loaded.fallbacks,
    };
    return { output, performanceMetrics: metrics };
  }

  /** One inference of one graph, queued behind the graph's other runs. */
  private async runGraph(model: LoadedModel, feeds: Record<string, WireTensor>, job: Job): Promise<{ outputs: Record<string, WireTensor>; ms: number }> {
    const result = model.queue.then(async () => {
      if (job.signal.aborted) throw new WebqError('AbortError', 'the request was aborted');
      if (model.broken) throw new WebqError('OperationError', `${model.broken}; call again: the model is loaded anew`);
      const session = await this.sessionFor(model, feeds);
      try {
        return await runSession(session, feeds, model.lost);
      } catch (err) {
        const failure = err instanceof WebqError ? err : new WebqError('OperationError', `inference failed: ${(err as Error).message}`);
        if (model.target.backend === 'webgpu') {
          // A failed WebGPU run usually means the device is gone. Running the queued requests into the same session
          // can leave onnxruntime-web stuck for good (seen after device.destroy()), so they fail here instead and
          // the next request loads the model again, on a new device if the old one was lost.
          model.broken = `an earlier WebGPU run of this model failed (${failure.message.slice(0, 160)})`;
          if (this.models.get(model.key) === model) this.models.delete(model.key);
        }
        throw failure;
      }
    });
    model.queue = result.catch(() => undefined);
    return result;
  }

  /** Drops the caller's hold on the model's graphs; a graph no caller holds is released. */
  private async unload(ref: ModelRef, caller: Caller): Promise<void> {
    let resolved: Resolved;
    try { resolved = await resolveModel(ref, this.fetcherFor(caller)); } catch { return; }
    const hrefs = new Set(resolved.kind === 'raw' ? [resolved.url.href] : resolved.graphs.map(([, url]) => url.href));
    for (const [key, model] of this.models) {
      if (model.partition !== resolved.partition || !hrefs.has(model.source) || !model.users.delete(caller.origin)) continue;
      if (model.users.size === 0) {
        this.models.delete(key);
        for (const s of model.sessions.values()) void s.then((x) => x.release()).catch(() => undefined);
      }
    }
  }
}

/** A call that names a sha256 gets those bytes or a DataError that does not say what the bytes are. */
function checkSha256(model: LoadedModel, sha256: string | undefined): void {
  if (sha256 && model.sha256 !== sha256) throw new WebqError('DataError', `model ${model.source} does not match the sha256 the page gave`);
}

/** The model's own fallbacks, then this call's, each once. */
function merge(own: readonly string[], call: readonly string[]): string[] {
  return [...new Set([...own, ...call])];
}

function wasmSimd(): boolean {
  // The smallest module using a v128 instruction; validate() says whether this engine has SIMD.
  return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
}
