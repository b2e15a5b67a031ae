/**
 * The engine host (SPEC §1): turns each request into exactly one reply. It has no extension dependency, so it runs
 * in Chrome's offscreen document, in Firefox's background page, and in a plain page (the WebNN test harness).
 * This file handles requests (receive, capabilities, run, unload); a load is resolved (resolve.ts), planned
 * (plan.ts), and served by the model store (model-store.ts), whose graphs run in graph-session.ts.
 *
 * Registry models are shared by all callers (downloaded once for all sites); a model URL a page names is kept in
 * that page's partition (its top-level origin), in memory and in the cache, so no site can learn what another
 * loaded (SPEC §3). Each caller origin holds a reference, and `unload` drops only the caller's. Runs on one model
 * are queued; sessions are created one at a time (ort.ts).
 */
import { toWireError, WebqError } from '../shared/errors';
import { modelTask, type NormalizedOptions } from '../shared/options';
import {
  SESSION_DEFAULTS,
  type Caller,
  type ClientMessage,
  type HostMessage,
  type Methods,
  type RequestMessage,
  type SessionParams,
  type SessionReply,
  type WireInput,
} from '../shared/protocol';
import type { Capabilities, ModelRef, PerformanceMetrics, Profile, RunResult } from '../shared/types';
import type { GraphRunner } from '../tasks/types';
import type { BrowserInfo } from './browser-info';
import { calibrate, calibratedTiles, CALIBRATION_SETTING, adapterKey } from './calibrate';
import { readSetting, writeSetting } from '../storage/settings';
import { adapterLimits, getGpu, gpuUnavailableReason, onDeviceLost, type GpuInfo } from './gpu';
import { checkFeeds } from './graph';
import { wasmThreads } from './ort';
import { acceptsGraphFeed, runGraph } from './graph-session';
import { nativeDecoderFor } from './native-engine';
import { choiceNote, EngineChooser, fasterEngine, type DecodeEngine } from './engine-choice';
import type { NativeDecoder } from '../native/decoder';
import { ModelStore, type Job, type Loaded } from './model-store';
import { figures, LanguageSessions, measureSession, promptSession } from './language-sessions';
import { decodeSpeed, type TextGenerationAssets } from '../tasks/generation';
import { DeltaBatcher } from './delta-batcher';
import { planLoad, type DeviceProbe, type Plan } from './plan';
import { chooseProfile, isProfileKey, PROFILE_OVERRIDE_SETTING } from './profile';
import { resolveAll, resolveModel, type Fetcher, type Resolved } from './resolve';
import { webnnMinBits, webnnStatus } from './webnn';
import { sweepStaging } from '../storage/staging';

export interface EngineEnv {
  browser: BrowserInfo;
  /** The extension's own origin (its UI pages call without consent and may load any https model). */
  extensionOrigin?: string;
}

/** What is here to run on, asked of the real device (plan.ts takes it as a parameter, for tests). */
const deviceProbe: DeviceProbe = {
  async unavailable(backend, webnnDevice) {
    if (backend === 'wasm') return null;
    if (backend === 'webgpu') return (await getGpu()) ? null : gpuUnavailableReason;
    const status = await webnnStatus(webnnDevice);
    return status.available ? null : (status.reason ?? 'WebNN is unavailable');
  },
  webnnMinBits,
};

export class Engine {
  private readonly store = new ModelStore();
  /** `engine: 'auto'`'s measurements of the two decode engines (engine-choice.ts). */
  private readonly engineChooser = new EngineChooser({ read: readSetting, write: writeSetting });
  private readonly sessions = new LanguageSessions();
  private readonly jobs = new Map<string, AbortController>();
  /** Set when the host is going away: requests still running then are answered with this OperationError. */
  private closing: string | null = null;
  private gpuFacts: Promise<{ emulated: boolean; features: string[]; gpu: GpuInfo } | null> | null = null;

  constructor(private readonly env: EngineEnv) {
    // Staged chunks still on disk belong to downloads of an engine host that went away: drop them now.
    void sweepStaging();
    onDeviceLost(() => {
      // Sessions built on the lost device are useless; the next request loads them again on a new device.
      this.store.forgetBackend('webgpu');
      this.gpuFacts = null;
    });
  }

  /** Whether any request is being worked on (the offscreen document keeps the service worker awake while so). */
  get busy(): boolean {
    return this.jobs.size > 0;
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
    // An aborted request sends no more text, held or not.
    const deltas = new DeltaBatcher((text) => {
      if (!controller.signal.aborted) emit({ type: 'delta', id: message.id, text });
    });
    const job: Job = {
      signal: controller.signal,
      progress: (phase, loaded, total) => {
        if (message.progress) emit({ type: 'progress', id: message.id, progress: { phase, loaded, total } });
      },
      delta: (text) => {
        if (message.stream) deltas.push(text);
      },
    };
    this.handle(message, caller, job)
      .then(
        (result) => {
          deltas.flush();
          if (!controller.signal.aborted) emit({ type: 'result', id: message.id, result });
        },
        (err) => {
          deltas.flush();
          const error = this.closing
            ? { name: 'OperationError' as const, message: this.closing }
            : controller.signal.aborted
              ? { name: 'AbortError' as const, message: 'the request was aborted' }
              : toWireError(err);
          emit({ type: 'error', id: message.id, error });
        },
      )
      .finally(() => this.jobs.delete(message.id));
  }

  private async handle(
    message: RequestMessage,
    caller: Caller,
    job: Job,
  ): Promise<Methods[typeof message.method]['result']> {
    switch (message.method) {
      case 'capabilities':
        return this.capabilities();
      case 'load': {
        const { info, fallbacks } = await this.load(message.params.model, message.params.options, caller, job);
        return { ...info, fallbacks };
      }
      case 'run':
        return this.run(message.params.model, message.params.input, message.params.options, caller, job);
      case 'unload':
        await this.unload(message.params.model, caller);
        return null;
      case 'session':
        return this.session(message.params, caller, job);
      case 'calibrate': {
        // A calibration is global and timed: exposed to pages it would be a cross-site identifier (SPEC §3).
        if (this.isPage(caller))
          throw new WebqError('NotAllowedError', "calibration is run from webq's options page, not by web pages");
        const gpu = await getGpu();
        if (!gpu)
          throw new WebqError(
            'NotSupportedError',
            `calibrate measures webq's WebGPU kernels, and WebGPU is not available: ${gpuUnavailableReason}`,
          );
        const result = await calibrate(gpu, job.signal, (done, total) => job.progress('calibrate', done, total));
        // webq's decode engine runs at these tiles on this adapter from its next model load (host/native-engine.ts).
        await writeSetting(CALIBRATION_SETTING, result);
        return result;
      }
    }
  }

  /** A web page's call, as opposed to one from the extension's own pages (which act for the user). */
  private isPage(caller: Caller): boolean {
    return caller.origin !== this.env.extensionOrigin;
  }

  /** Who a caller's model URLs are fetched for, and the partition they are kept in (its top-level origin). */
  private fetcherFor(caller: Caller): Fetcher {
    return {
      requester: { origin: caller.origin, page: this.isPage(caller) },
      partition: caller.topOrigin ?? caller.origin,
    };
  }

  async capabilities(): Promise<Capabilities> {
    const [gpu, webnn, { profile }] = await Promise.all([getGpu(), webnnStatus('gpu'), this.profile()]);
    return {
      browser: { name: this.env.browser.name, version: this.env.browser.version },
      webgpu: gpu
        ? {
            available: true,
            adapter: {
              vendor: gpu.info.vendor,
              architecture: gpu.info.architecture,
              description: gpu.info.description || gpu.info.device,
              emulated: gpu.emulated,
            },
            features: [...gpu.adapter.features].sort(),
            limits: adapterLimits(gpu.adapter),
          }
        : { available: false, reason: gpuUnavailableReason, features: [], limits: {} },
      webnn,
      wasm: { threads: wasmThreads(), simd: wasmSimd() },
      profile,
    };
  }

  /**
   * The profile in use: chosen from the detected browser and GPU, or from the options page's override (which
   * stands in for the detected browser; the emulated-GPU order and the feature checks still apply). A calibration
   * is not part of it: nothing reads its result yet, and pages must see none (SPEC §3). Settings are read through
   * readSetting, which keeps them in
   * memory and hears of changes over a BroadcastChannel, so a change applies without restarting the engine; an
   * unreadable setting means no override.
   */
  private async profile(): Promise<{ profile: Profile; emulated: boolean }> {
    this.gpuFacts ??= getGpu().then((gpu) =>
      gpu ? { emulated: gpu.emulated, features: [...gpu.adapter.features], gpu } : null,
    );
    const facts = await this.gpuFacts;
    const override = await readSetting(PROFILE_OVERRIDE_SETTING).catch(() => undefined);
    const browser = isProfileKey(override) ? { ...this.env.browser, name: override } : this.env.browser;
    return { profile: chooseProfile(browser, facts), emulated: facts?.emulated ?? false };
  }

  /**
   * planLoad for this browser. Firefox's WebGPU (lavapipe here) gives wrong tokens after the first one with the
   * greedy next-token head (tests/e2e/generation-suite.ts, GQA and plain Llama), so text generation there reads the
   * logits row as before; every other backend and browser gets the head.
   */
  private async plan(
    resolved: Resolved,
    options: NormalizedOptions,
    fallbacks: string[],
  ): Promise<{ plan: Plan; profile: Profile }> {
    const { profile, emulated } = await this.profile();
    const plan = await planLoad(resolved, options, profile, emulated, deviceProbe, fallbacks);
    if (plan.target.backend === 'webgpu' && this.env.browser.name === 'firefox') plan.nextToken = false;
    return { plan, profile };
  }

  /** Resolves, plans and loads a model for a caller; the load time is reported when this call did the loading. */
  private async load(
    ref: ModelRef,
    options: NormalizedOptions,
    caller: Caller,
    job: Job,
  ): Promise<Loaded & { resolved: Resolved; loadTimeMs?: number; profile: string }> {
    const started = performance.now();
    const resolved = await resolveModel(ref, this.fetcherFor(caller), modelTask(options.task));
    const fallbacks: string[] = [];
    const { plan, profile } = await this.plan(resolved, options, fallbacks);
    const loaded = await this.store.load(resolved, plan, caller, job, fallbacks);
    return {
      ...loaded,
      resolved,
      loadTimeMs: loaded.firstUse ? performance.now() - started : undefined,
      profile: profile.name,
    };
  }

  private async run(
    ref: ModelRef,
    input: WireInput,
    options: NormalizedOptions,
    caller: Caller,
    job: Job,
  ): Promise<RunResult> {
    const loaded = await this.load(ref, options, caller, job);
    const { resolved, main } = loaded;
    const started = performance.now();
    let output: unknown;
    let ms: number | undefined;
    let generation: Partial<PerformanceMetrics> = {};
    if (resolved.kind === 'raw') {
      if (input.kind !== 'tensors')
        throw new WebqError(
          'DataError',
          `this model is a raw ONNX model: pass tensors { ${main.io.inputs.map((i) => i.name).join(', ')} }, not ${input.kind}`,
        );
      checkFeeds(main.io, input.tensors);
      ({ outputs: output, ms } = await runGraph(main, input.tensors, job.signal));
    } else {
      const native =
        resolved.pipeline.task === 'text-generation'
          ? await this.nativeFor(loaded, loaded.assets as TextGenerationAssets, options, job, caller)
          : undefined;
      output = await resolved.pipeline.run(loaded.assets, input, options, this.graphRunner(loaded, job, native), {
        onDelta: (text) => job.delta(text),
        report: (figures) => {
          generation = figures;
        },
      });
    }
    // A task's inference is the whole pipeline: tokenising, the graphs (a decoder's every step), post-processing.
    return { output, performanceMetrics: this.metrics(loaded, ms ?? performance.now() - started, generation) };
  }

  /** The graphs of a loaded task model, for its pipeline: each run checked against its inputs and queued. */
  private graphRunner(loaded: Awaited<ReturnType<Engine['load']>>, job: Job, native?: NativeDecoder): GraphRunner {
    const task = loaded.resolved.kind === 'task' ? loaded.resolved.pipeline.task : 'raw';
    const graph = (role: string) => {
      const g = loaded.graphs.get(role);
      if (!g) throw new WebqError('OperationError', `task ${task} has no graph "${role}"`);
      return g;
    };
    return {
      signal: job.signal,
      io: (role) => graph(role).io,
      run: async (role, feeds) => {
        checkFeeds(graph(role).io, feeds);
        return (await runGraph(graph(role), feeds, job.signal)).outputs;
      },
      runKeeping: async (role, feeds, keep, fetches) => {
        checkFeeds(graph(role).io, feeds);
        return (await runGraph(graph(role), feeds, job.signal, keep, fetches)).outputs;
      },
      accepts: (role, tensor) => acceptsGraphFeed(graph(role), tensor),
      native: (role) => (graph(role) === loaded.main ? native : undefined),
    };
  }

  /**
   * webq's own decode engine for a text-generation request, where `engine` and the graph allow it and, under 'auto',
   * where it measured faster than onnxruntime-web on this adapter (engine-choice.ts). The report says which engine
   * ran; to the extension's own pages also at which tiles and from where. Never to web pages: the tiles of a
   * calibration are its result, and SPEC §3 keeps calibration from pages (no results, times or flags).
   */
  private async nativeFor(
    loaded: Awaited<ReturnType<Engine['load']>>,
    assets: TextGenerationAssets,
    options: NormalizedOptions,
    job: Job,
    caller: Caller,
  ): Promise<NativeDecoder | undefined> {
    if (options.engine === 'ort' || loaded.main.target.backend !== 'webgpu') return undefined;
    const gpu = await getGpu();
    const tiles =
      gpu && !loaded.main.native ? calibratedTiles(await readSetting(CALIBRATION_SETTING), adapterKey(gpu)) : undefined;
    const native = nativeDecoderFor(loaded.main, assets, options, gpu, loaded.fallbacks, tiles);
    if (!native || !gpu) return undefined;
    if (options.engine !== 'webq') {
      const key = {
        partition: loaded.main.partition,
        sha256: loaded.main.sha256,
        adapter: adapterKey(gpu),
        tiles: native.tiles,
      };
      const decode = (engine: DecodeEngine) =>
        decodeSpeed(assets, this.graphRunner(loaded, job, engine === 'webq' ? native : undefined));
      try {
        const speeds = await this.engineChooser.speeds(key, decode);
        loaded.fallbacks.push(choiceNote(speeds));
        if (fasterEngine(speeds) === 'ort') return undefined;
      } catch (err) {
        // This request's abort ends it; another request's, whose measurement this one was waiting on, does not.
        if (job.signal.aborted) throw err;
        loaded.fallbacks.push(`engine auto: webq's decode engine (not measured: ${(err as Error).message})`);
      }
    }
    if (!this.isPage(caller)) loaded.fallbacks.push(`webq's decode engine: ${native.tiles} (${native.tilesFrom})`);
    return native;
  }

  private metrics(
    loaded: Awaited<ReturnType<Engine['load']>>,
    ms: number,
    extra: Partial<PerformanceMetrics>,
  ): PerformanceMetrics {
    const { info } = loaded;
    return {
      inferenceTimeMs: ms,
      totalTimeMs: ms, // replaced page-side with the time from the call to its result
      ...(loaded.loadTimeMs !== undefined ? { loadTimeMs: loaded.loadTimeMs } : {}),
      backend: loaded.main.target.backend,
      quantizationBits: info.bits,
      quantizationScheme: info.scheme,
      mixedPrecision: info.mixedPrecision,
      modelBytes: info.modelBytes,
      originalBytes: info.originalBytes,
      memoryReductionPercent: info.originalBytes > 0 ? 100 * (1 - info.modelBytes / info.originalBytes) : 0,
      browser: `${this.env.browser.name} ${this.env.browser.version}`,
      profile: loaded.profile,
      fallbacks: loaded.fallbacks,
      ...extra,
    };
  }

  /** A LanguageModel operation (SPEC §8): sessions of this caller's origin, their KV cache kept between prompts. */
  private async session(p: SessionParams, caller: Caller, job: Job): Promise<SessionReply> {
    const { origin } = caller;
    switch (p.op) {
      case 'availability': {
        const resolved = await resolveModel(p.model, this.fetcherFor(caller)).catch(() => null);
        if (!resolved || resolved.kind !== 'task' || resolved.pipeline.task !== 'text-generation')
          return { availability: 'unavailable' };
        const planned = await this.plan(resolved, p.options, []).catch(() => null);
        return { availability: planned ? await this.store.availability(resolved, planned.plan) : 'unavailable' };
      }
      case 'create': {
        const { assets } = await this.languageModel(p.model, p.options, caller, job);
        const session = this.sessions.create(origin, p.model, p.options, p.messages);
        return { session: session.id, ...(await figures(session, assets)) };
      }
      case 'clone': {
        const copy = this.sessions.clone(origin, p.session);
        const { assets } = await this.languageModel(copy.model, copy.options, caller, job);
        return { session: copy.id, ...(await figures(copy, assets)) };
      }
      case 'destroy':
        this.sessions.destroy(origin, p.session);
        return {};
      default: {
        const session = this.sessions.get(origin, p.session);
        const { loaded, assets } = await this.languageModel(session.model, session.options, caller, job);
        if (p.op !== 'prompt') {
          if (p.op === 'measure') return { tokens: await measureSession(session, assets, p.messages) };
          session.history.push(...p.messages); // append: prefilled with the next prompt
          return figures(session, assets);
        }
        const started = performance.now();
        const native = await this.nativeFor(loaded, assets, session.options, job, caller);
        const runner = this.graphRunner(loaded, job, native);
        const r = await promptSession(session, assets, runner, p.messages, p.options, (text) => job.delta(text));
        const { timeToFirstTokenMs, prefillTokensPerSecond, decodeTokensPerSecond } = r.timings;
        const output = { text: r.text, tokens: r.tokens, finishReason: r.finishReason, usage: r.usage };
        const performanceMetrics = this.metrics(loaded, performance.now() - started, {
          timeToFirstTokenMs,
          prefillTokensPerSecond,
          decodeTokensPerSecond,
        });
        return { result: { output, performanceMetrics }, ...(await figures(session, assets)) };
      }
    }
  }

  /** A text-generation model loaded for a session (its load options: the session's, less its sampling defaults). */
  private async languageModel(ref: ModelRef, options: NormalizedOptions, caller: Caller, job: Job) {
    const load = Object.fromEntries(
      Object.entries(options).filter(([k]) => !(SESSION_DEFAULTS as readonly string[]).includes(k)),
    );
    const loaded = await this.load(ref, load, caller, job);
    if (loaded.resolved.kind !== 'task' || loaded.resolved.pipeline.task !== 'text-generation') {
      throw new WebqError(
        'DataError',
        "LanguageModel needs a text-generation model: a registry LLM id or { url, task: 'text-generation' }",
      );
    }
    return { loaded, assets: loaded.assets as TextGenerationAssets };
  }

  /** Drops the caller's hold on the model's graphs; a graph no caller holds is released. */
  private async unload(ref: ModelRef, caller: Caller): Promise<void> {
    let resolved: Resolved[];
    try {
      resolved = await resolveAll(ref, this.fetcherFor(caller));
    } catch {
      return;
    }
    for (const r of resolved) this.store.release(r, caller.origin);
  }
}

function wasmSimd(): boolean {
  // The smallest module using a v128 instruction; validate() says whether this engine has SIMD.
  return WebAssembly.validate(
    new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
    ]),
  );
}
