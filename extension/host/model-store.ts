/**
 * The models the engine holds: each graph loaded once per (partition, URL, plan) and shared by the calls that
 * name it, its bytes from the cache or a download (cached only once they prove to be a model), quantized off the
 * engine's thread, and a task's companion files (tokenizer, configs) read once. Registry ids live in the shared
 * partition; a URL a page names lives in that page's (resolve.ts), so no site sees what another loaded.
 */
import { WebqError } from '../shared/errors';
import type { Caller } from '../shared/protocol';
import type { ModelInfo, ProgressPhase } from '../shared/types';
import type { ModelFiles } from '../tasks/types';
import { cacheKey, commitStaged, hasEntry, readEntry, writeEntry } from '../storage/model-cache';
import { discardStaged } from '../storage/staging';
import { parseModel } from '../onnx';
import { checkExternalData, externalDataFiles } from '../onnx/external-data';
import { openCachedFile, stagedFile, type StoredFile } from '../storage/stored-file';
import { download, downloadToDisk, type DownloadedToDisk } from './download';
import { openGraph, releaseGraph, type LoadedGraph } from './graph-session';
import { graphKey, graphPlan, type Plan } from './plan';
import type { Prepared } from './prepare';
import { prepareOffThread } from './prepare-off-thread';
import type { Fetcher, Resolved } from './resolve';
import { checkModelUrl } from './url-rule';

/** One request's abort signal and progress reporting. */
export interface Job {
  signal: AbortSignal;
  progress(phase: ProgressPhase, loaded: number, total: number): void;
  /** Generated text as it is decoded, when the caller streams (a no-op otherwise). */
  delta(text: string): void;
}

/** What a load hands to a run: the graph(s) by role, the task's prepared assets, and the report of this call. */
export interface Loaded {
  graphs: Map<string, LoadedGraph>;
  main: LoadedGraph;
  assets: unknown;
  info: ModelInfo;
  fallbacks: string[];
  /** This caller's origin had not held every graph before this call (its load time is reported). */
  firstUse: boolean;
}

/** An external data file of a graph being loaded: in IndexedDB, cached (`store`) or dropped (`discard`) after. */
interface DataFile {
  /** As the graph names it. */
  path: string;
  file: StoredFile;
  store(): Promise<void>;
  discard(): Promise<void>;
}

/** Creates a graph's session(s) once its bytes are ready; onnxruntime-web in the engine, a stand-in in unit tests. */
export type GraphOpener = (graph: LoadedGraph, plan: Plan, job: Job) => Promise<void>;

const openWithOrt: GraphOpener = (graph, plan, job) =>
  openGraph(graph, plan.shaderPrecompilation, (done) => job.progress('compile', done, 1), plan.native === true);

/** A task's JSON files (tokenizer.json of a 250k-token vocabulary is ≈ 20 MB) are read whole and parsed: capped. */
const COMPANION_MAX_BYTES = 64 * 2 ** 20;
/**
 * One external data file (`model.onnx_data`), read in pieces and never whole unless run as stored: for a page's URL
 * as much as a page's downloads may hold at once (download.ts), for the user's (registry) a larger file
 * (Llama-3.2-1B's fp32 data is 4.9 GB).
 */
const EXTERNAL_DATA_MAX_BYTES = { page: 4 * 2 ** 30, user: 16 * 2 ** 30 };

export class ModelStore {
  private readonly graphs = new Map<string, LoadedGraph>();
  private readonly loading = new Map<
    string,
    { promise: Promise<LoadedGraph>; waiters: number; controller: AbortController }
  >();
  /** Task assets (tokenizers, labels, preprocessing configs) by partition and model, read once per engine. */
  private readonly assets = new Map<string, Promise<unknown>>();

  constructor(private readonly open: GraphOpener = openWithOrt) {}

  /**
   * Everything a request needs loaded: each graph (loaded once per partition and plan), and a task's assets.
   * `fallbacks` are this call's own substitutions merged with the model's: a model already in memory was loaded
   * by another call, whose `fallbacks` do not say what this call's options were changed to.
   */
  async load(resolved: Resolved, plan: Plan, caller: Caller, job: Job, fallbacks: string[]): Promise<Loaded> {
    const urls = resolved.kind === 'raw' ? [['model', resolved.url] as [string, URL]] : resolved.graphs;
    const graphs = new Map<string, LoadedGraph>();
    let firstUse = false;
    // One graph at a time: sessions are created one at a time anyway (ort.ts), and a failure stops the rest.
    for (const [index, [role, url]] of urls.entries()) {
      const { graph, first } = await this.acquire(
        url,
        resolved,
        expectedSha256(resolved, url) ?? (index === 0 ? resolved.sha256 : undefined),
        graphPlan(plan, resolved.kind === 'task' ? resolved.pipeline : null, role),
        caller,
        job,
        fallbacks,
      );
      graphs.set(role, graph);
      firstUse ||= first;
    }
    const assets = resolved.kind === 'task' ? await this.taskAssets(resolved, job, fallbacks) : null;
    const merged = [...new Set([...[...graphs.values()].flatMap((g) => g.fallbacks), ...fallbacks])];
    return {
      graphs,
      main: graphs.values().next().value!,
      assets,
      info: describe(resolved, graphs, merged),
      fallbacks: merged,
      firstUse,
    };
  }

  /**
   * Whether the model could run without a download (SPEC §8 `availability`): every graph in memory, being loaded, or
   * its planned variant (or its source) in the partition's cache. Companion files are small and not counted.
   */
  async availability(resolved: Resolved, loadPlan: Plan): Promise<'downloadable' | 'downloading' | 'available'> {
    const urls: [string, URL][] = resolved.kind === 'raw' ? [['model', resolved.url]] : resolved.graphs;
    let state: 'downloading' | 'available' = 'available';
    for (const [role, url] of urls) {
      const plan = graphPlan(loadPlan, resolved.kind === 'task' ? resolved.pipeline : null, role);
      const key = graphKey(resolved.partition, url, plan);
      if (this.graphs.has(key)) continue;
      if (this.loading.has(key)) {
        state = 'downloading';
        continue;
      }
      const stored =
        (await hasEntry(cacheKey(url.href, plan.variant, resolved.partition))) ||
        (await hasEntry(cacheKey(url.href, 'src', resolved.partition)));
      if (!stored) return 'downloadable';
    }
    return state;
  }

  /** Drops the caller's hold on the model's graphs (in its partition); a graph no caller holds is released. */
  release(resolved: Resolved, origin: string): void {
    const hrefs = new Set(resolved.kind === 'raw' ? [resolved.url.href] : resolved.graphs.map(([, url]) => url.href));
    for (const [key, graph] of this.graphs) {
      if (graph.partition !== resolved.partition || !hrefs.has(graph.source) || !graph.users.delete(origin)) continue;
      if (graph.users.size === 0) {
        this.graphs.delete(key);
        releaseGraph(graph);
      }
    }
  }

  /** Forgets every graph on `backend` (its device was lost): the next request loads them again. */
  forgetBackend(backend: LoadedGraph['target']['backend']): void {
    for (const [key, graph] of this.graphs) if (graph.target.backend === backend) this.graphs.delete(key);
  }

  /** One graph for a load: in memory already, being loaded by another call (then shared), or loaded now. */
  private async acquire(
    url: URL,
    from: Fetcher,
    sha256: string | undefined,
    plan: Plan,
    caller: Caller,
    job: Job,
    fallbacks: string[],
  ): Promise<{ graph: LoadedGraph; first: boolean }> {
    const key = graphKey(from.partition, url, plan);
    const existing = this.graphs.get(key);
    if (existing) {
      checkSha256(existing, sha256);
      const first = !existing.users.has(caller.origin);
      existing.users.add(caller.origin);
      return { graph: existing, first };
    }
    let entry = this.loading.get(key);
    if (!entry) {
      const controller = new AbortController();
      // The graph keeps its own copy of the notes so far: later calls add theirs to their own list.
      const promise = this.loadGraph(key, url, from, sha256, plan, [...fallbacks], controller.signal, job).finally(() =>
        this.loading.delete(key),
      );
      entry = { promise, waiters: 0, controller };
      this.loading.set(key, entry);
    }
    // The shared load is aborted only when every caller waiting for it has aborted.
    const shared = entry;
    shared.waiters++;
    const onAbort = () => {
      if (--shared.waiters === 0) shared.controller.abort();
    };
    job.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const graph = await shared.promise;
      // A call that joined a load started by another must still get the bytes it named.
      checkSha256(graph, sha256);
      graph.users.add(caller.origin);
      return { graph, first: true };
    } finally {
      job.signal.removeEventListener('abort', onAbort);
      if (!job.signal.aborted) shared.waiters--;
    }
  }

  /**
   * A task's assets, prepared once per (partition, task, graph, tokenizer): each file comes through the same
   * download → cache path as the graphs (so a second load never touches the network), parsed as JSON.
   */
  private taskAssets(resolved: Extract<Resolved, { kind: 'task' }>, job: Job, fallbacks: string[]): Promise<unknown> {
    const { pipeline } = resolved;
    const key = `${resolved.partition}|${pipeline.task}|${resolved.graphs[0]![1].href}|${resolved.file('tokenizer.json').href}`;
    let assets = this.assets.get(key);
    if (!assets) {
      const read = async (name: string): Promise<unknown> => {
        const url = resolved.file(name);
        const source = await this.sourceBytes(
          url,
          resolved,
          expectedSha256(resolved, url),
          job,
          fallbacks,
          COMPANION_MAX_BYTES,
        );
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(source.bytes));
        } catch {
          await source.discard();
          // No parser text: it quotes the body, which must never reach a page that could not read it.
          throw new WebqError('DataError', `${name} of model ${resolved.id} is not valid JSON (${url.href})`);
        }
        await source.store();
        return parsed;
      };
      const files: ModelFiles = {
        json: read,
        optionalJson: (name) =>
          read(name).catch((err) => {
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

  /**
   * The source bytes of a file: from the partition's cache when a complete, intact copy is there (and matches the
   * sha256 the page gave), else downloaded for the requester. Downloaded bytes are cached by `store()`, which the
   * caller calls only once they have proved to be what was asked for (a model that parses, JSON that parses), so
   * no site can plant other bytes in the cache; on any other path the caller calls `discard()`, which drops the
   * download's staged chunks. Cache trouble never fails a load; it is reported in `fallbacks`.
   */
  private async sourceBytes(
    url: URL,
    from: Fetcher,
    sha256: string | undefined,
    job: Job,
    fallbacks: string[],
    maxBytes?: number,
    signal = job.signal,
  ): Promise<{ bytes: Uint8Array; sha256: string; store(): Promise<void>; discard(): Promise<void> }> {
    const hit = await readEntry(cacheKey(url.href, 'src', from.partition), (loaded, total) =>
      job.progress('cache', loaded, total),
    ).catch((err) => {
      fallbacks.push(`cache: could not read (${(err as Error).message})`);
      return { miss: 'absent' as const };
    });
    if ('entry' in hit && (!sha256 || hit.entry.sha256 === sha256))
      return {
        bytes: hit.bytes,
        sha256: hit.entry.sha256,
        store: async () => undefined,
        discard: async () => undefined,
      };
    if ('miss' in hit && hit.miss !== 'absent')
      fallbacks.push(`cache: the cached copy of ${url.href} was ${hit.miss}; downloaded it again`);
    const downloaded = await download(url, {
      signal,
      sha256,
      maxBytes,
      requester: from.requester,
      onProgress: (loaded, total) => job.progress('download', loaded, total),
    });
    return { bytes: downloaded.bytes, sha256: downloaded.sha256, ...stagedSource(url, from, downloaded, fallbacks) };
  }

  /**
   * A file left in IndexedDB, to read in pieces (storage/stored-file.ts): the partition's cached copy, or a download
   * written to the staging store and cached by `store()` as `sourceBytes` does. Nothing of it is read here.
   */
  private async sourceFile(
    url: URL,
    from: Fetcher,
    job: Job,
    fallbacks: string[],
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<Omit<DataFile, 'path'>> {
    const hit = await openCachedFile(cacheKey(url.href, 'src', from.partition), url.href).catch((err) => {
      fallbacks.push(`cache: could not read (${(err as Error).message})`);
      return { miss: 'absent' as const };
    });
    if ('file' in hit) {
      job.progress('cache', hit.file.size, hit.file.size);
      return { file: hit.file, store: async () => undefined, discard: async () => undefined };
    }
    if (hit.miss !== 'absent')
      fallbacks.push(`cache: the cached copy of ${url.href} was ${hit.miss}; downloaded it again`);
    const downloaded = await downloadToDisk(url, {
      signal,
      maxBytes,
      requester: from.requester,
      onProgress: (loaded, total) => job.progress('download', loaded, total),
    });
    return { file: stagedFile(downloaded.staged, url.href), ...stagedSource(url, from, downloaded, fallbacks) };
  }

  /** A quantized variant: from the cache (no download, no quantization) or prepared from the source and cached. */
  private async preparedBytes(
    url: URL,
    from: Fetcher,
    sha256: string | undefined,
    plan: Plan,
    signal: AbortSignal,
    job: Job,
    fallbacks: string[],
  ): Promise<{ prepared: Prepared; sourceSha256: string }> {
    // A workgroupSize load asks for webq's kernels to quantize, so it neither reads nor writes the quantized variant.
    const cached = plan.policy !== null && !plan.workgroupSize;
    const key = cacheKey(url.href, plan.variant, from.partition);
    if (cached) {
      const hit = await readEntry<Omit<Prepared, 'bytes'>>(key, (loaded, total) =>
        job.progress('cache', loaded, total),
      ).catch(() => ({ miss: 'absent' as const }));
      if ('entry' in hit && (!sha256 || hit.entry.sourceSha256 === sha256)) {
        return { prepared: { ...hit.entry.meta, bytes: hit.bytes }, sourceSha256: hit.entry.sourceSha256 };
      }
    }
    const source = await this.sourceBytes(url, from, sha256, job, fallbacks, undefined, signal);
    // Reading the external data and preparing parse the graph: the source and its data files are cached only once
    // they have proved to be an ONNX model (the preparation read the data files from their staged chunks), and their
    // staged downloads are dropped on any failure before that.
    let prepared: Prepared | undefined;
    let data: DataFile[] = [];
    // A cached data file that fails its check while read is deleted by the reader (stored-file.ts): then it is
    // downloaded again and the preparation retried, once.
    for (let attempt = 0; !prepared; attempt++) {
      try {
        data = await this.externalData(url, source.bytes, from, job, fallbacks, signal);
        if (plan.policy) job.progress('quantize', 0, 1);
        prepared = await prepareOffThread(source.bytes, plan.policy, signal, {
          workgroupSize: plan.workgroupSize,
          external: data.map((d) => ({ path: d.path, stored: d.file })),
          purpose: { nextToken: plan.nextToken, integerMatMul: plan.integerMatMul },
          onProgress: (done, total) => job.progress('quantize', done, total),
        });
      } catch (err) {
        for (const d of data) await d.discard();
        const lost = attempt === 0 && !signal.aborted ? await lostFromCache(data) : [];
        if (lost.length === 0) {
          await source.discard();
          throw err;
        }
        for (const d of lost)
          fallbacks.push(`cache: the cached copy of ${d.file.label} failed its check when read; downloaded it again`);
      }
    }
    if (plan.policy) job.progress('quantize', 1, 1);
    await source.store();
    for (const d of data) await d.store();
    // A model that came quantized runs as stored: its source in the cache is its variant.
    if (cached && !prepared.asStored) {
      const { bytes, ...meta } = prepared;
      await writeEntry(
        { source: url.href, variant: plan.variant, site: from.partition, sourceSha256: source.sha256, meta },
        bytes,
      ).catch((err) =>
        fallbacks.push(`cache: quantized variant not cached (${(err as Error).name}: ${(err as Error).message})`),
      );
    }
    return { prepared, sourceSha256: source.sha256 };
  }

  /**
   * The external data files the graph names (extension/onnx/external-data.ts), fetched from beside the graph for the
   * same requester under the same URL rule, through the same cache, and left in IndexedDB: the preparation reads them
   * in pieces. Checked against the graph (names, offsets, lengths) before any byte is read; the caller caches them
   * (`store`) once the graph is prepared, or drops them (`discard`). Progress counts them after the graph's bytes.
   */
  private async externalData(
    url: URL,
    graph: Uint8Array,
    from: Fetcher,
    job: Job,
    fallbacks: string[],
    signal: AbortSignal,
  ): Promise<DataFile[]> {
    const model = parseModel(graph);
    const names = externalDataFiles(model);
    const files: DataFile[] = [];
    let before = graph.byteLength;
    try {
      for (const name of names) {
        const fileUrl = checkModelUrl(new URL(name, url).href, from.requester);
        const counted: Job = {
          ...job,
          progress: (phase, loaded, total) => job.progress(phase, before + loaded, before + total),
        };
        const max = EXTERNAL_DATA_MAX_BYTES[from.requester.page ? 'page' : 'user'];
        const source = await this.sourceFile(fileUrl, from, counted, fallbacks, max, signal);
        before += source.file.size;
        files.push({ path: name, ...source });
      }
      checkExternalData(model, new Map(files.map((f) => [f.path, f.file.size])));
    } catch (err) {
      for (const f of files) await f.discard();
      throw err;
    }
    return files;
  }

  private async loadGraph(
    key: string,
    url: URL,
    from: Fetcher,
    sha256: string | undefined,
    plan: Plan,
    fallbacks: string[],
    signal: AbortSignal,
    job: Job,
  ): Promise<LoadedGraph> {
    const { policy, target } = plan;
    const { prepared, sourceSha256 } = await this.preparedBytes(url, from, sha256, plan, signal, job, fallbacks);
    fallbacks.push(...prepared.notes);
    const { report, io } = prepared;
    let { modelBytes } = report;
    if (report.mayExpandAtRuntime.length > 0) {
      // onnxruntime constant-folds fp16 weights behind a Cast back to fp32 at session creation: count what is held.
      const expanded = report.weights.filter((w) => report.mayExpandAtRuntime.includes(w.name));
      modelBytes += expanded.reduce((n, w) => n + w.originalBytes - w.bytes, 0);
      fallbacks.push(
        `16-bit: onnxruntime folds fp16 weights back to fp32 when it optimises the graph; ${expanded.length} weights are held at fp32`,
      );
    }
    // The integer form holds its MatMul weights as int8 (prepare.ts notes it): count what is held.
    if (prepared.integerForm) modelBytes += prepared.integerForm.bytesAfter - prepared.integerForm.bytesBefore;
    const detectedBits = report.preQuantized.detected ? Math.max(...report.preQuantized.bits) : 32;
    const graph: LoadedGraph = {
      key,
      source: url.href,
      partition: from.partition,
      sha256: sourceSha256,
      bytes: prepared.bytes,
      externalData: prepared.externalData ?? null,
      io,
      target,
      fallbacks,
      sessions: new Map(),
      users: new Set(),
      queue: Promise.resolve(),
      evict: () => {
        if (this.graphs.get(key) === graph) this.graphs.delete(key);
      },
      info: {
        id: url.href,
        source: url.href,
        task: null,
        backend: target.backend,
        // A model that came quantized reports what it stores, whatever was asked (prepare.ts notes the difference).
        ...(prepared.asStored
          ? {
              bits: detectedBits as ModelInfo['bits'],
              scheme: null,
              groupSize: null,
              mixedPrecision: report.preQuantized.bits.length > 1,
            }
          : {
              bits: (policy?.bits ?? detectedBits) as ModelInfo['bits'],
              scheme: policy?.scheme ?? null,
              groupSize: policy?.groupSize ?? null,
              mixedPrecision: policy?.mixedPrecision ?? false,
            }),
        modelBytes,
        originalBytes: report.originalBytes,
        weights: report.weights.map((w) => ({
          name: w.name,
          op: w.op,
          precision: report.mayExpandAtRuntime.includes(w.name) ? 32 : w.precision,
        })),
        inputs: io.inputs,
        outputs: io.outputs,
        fallbacks,
      },
    };
    await this.open(graph, plan, job);
    if (signal.aborted) throw new WebqError('AbortError', 'the load was aborted');
    this.graphs.set(key, graph);
    return graph;
  }
}

/**
 * What to do with a downloaded source once the caller knows whether it is good: `store` commits its staged chunks as
 * the partition's cached copy (a failure is said in `fallbacks`, never fails the load), `discard` drops them.
 */
function stagedSource(
  url: URL,
  from: Fetcher,
  downloaded: DownloadedToDisk,
  fallbacks: string[],
): { store(): Promise<void>; discard(): Promise<void> } {
  return {
    store: () =>
      commitStaged(
        { source: url.href, variant: 'src', site: from.partition, sourceSha256: downloaded.sha256, meta: null },
        downloaded.staged,
      ).then(
        () => undefined,
        (err) => {
          fallbacks.push(`cache: model not cached (${(err as Error).name}: ${(err as Error).message})`);
        },
      ),
    discard: () => discardStaged(downloaded.staged.id).catch(() => undefined),
  };
}

/** The data files that were read from the cache and are not there any more (deleted as corrupt, or evicted). */
async function lostFromCache(files: DataFile[]): Promise<DataFile[]> {
  const lost: DataFile[] = [];
  for (const d of files) if (d.file.store === 'chunks' && !(await hasEntry(d.file.key))) lost.push(d);
  return lost;
}

/**
 * The sha256 a pinned registry entry lists for this file (checked on download, cache read and join); a file a
 * pinned entry does not list is not fetched at all (NotFoundError, which an optional companion file reads as absent).
 */
function expectedSha256(resolved: Resolved, url: URL): string | undefined {
  if (resolved.kind !== 'task' || !resolved.pinned) return undefined;
  const sha256 = resolved.pinned.get(url.href);
  if (!sha256) throw new WebqError('NotFoundError', `built-in model ${resolved.id} is pinned and lists no ${url.href}`);
  return sha256;
}

/** A call that names a sha256 gets those bytes or a DataError that does not say what the bytes are. */
function checkSha256(graph: LoadedGraph, sha256: string | undefined): void {
  if (sha256 && graph.sha256 !== sha256)
    throw new WebqError('DataError', `model ${graph.source} does not match the sha256 the page gave`);
}

/** The load's report: one graph's own, or for a task model the main graph's precision and every graph's bytes. */
function describe(resolved: Resolved, graphs: Map<string, LoadedGraph>, fallbacks: string[]): ModelInfo {
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
