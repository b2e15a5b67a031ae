/**
 * What a model reference names (SPEC §2, §5): a registry id → its repo on the model host (the options page's
 * setting) with its task's graphs and companion files; a ModelSource with `task` → that task's pipeline on the given
 * graph, its companion files beside it (or one folder up when the graph sits in the hub's `onnx/` folder); anything
 * else → one raw ONNX graph. Every URL passes the download rule (url-rule.ts checkModelUrl) for whoever it is
 * fetched for: a registry id's files for the user (the model host is the user's setting), a URL a page names for
 * that page. What a page names is stored in the page's own partition; only registry ids are shared by all sites.
 */
import { hubFileUrl, modelHost } from '../models/model-host';
import { entryTasks, registryEntry, REGISTRY } from '../models/registry';
import { WebqError } from '../shared/errors';
import type { ModelRef, Task } from '../shared/types';
import { modelTypeOfGraph, pipelineFor } from '../tasks';
import type { TaskPipeline } from '../tasks/types';
import { checkModelUrl, type Requester } from './url-rule';

/** Who a model is resolved for, and where what it names is kept. */
export interface Fetcher {
  /** Who the page-named URLs are fetched for. */
  requester: Requester;
  /** The partition of the cache and of loaded models for URLs the caller names (its top-level origin). */
  partition: string;
}

/** The partition of registry ids: shared by every site, like a browser's built-in models. */
export const SHARED_PARTITION = '';

/** What a reference names, with who its files are fetched for and where they are kept. */
export type Resolved = Fetcher &
  (
    | { kind: 'raw'; id: string; url: URL; sha256?: string }
    | {
        kind: 'task';
        id: string;
        pipeline: TaskPipeline;
        /** Graph URLs by role, main graph first. */
        graphs: [string, URL][];
        /** The URL of a companion file (tokenizer.json, config.json, …). */
        file(name: string): URL;
        /** Checks the main graph. */
        sha256?: string;
        /** A pinned registry entry's sha256 of each file, by URL: every file is checked against it before use. */
        pinned?: ReadonlyMap<string, string>;
        /** Built-in models run at their profile's precision unless the options say otherwise (SPEC §2). */
        builtIn: boolean;
      }
  );

const isRegistryId = (ref: ModelRef): ref is string => typeof ref === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(ref);

/**
 * `task` is the page's `task` option: for a registry id, which of the entry's tasks to load (default its first; a
 * task it does not serve is a NotSupportedError); for a model URL, the task of `{ url, task }` (it must agree with
 * a task the ModelSource names).
 */
export async function resolveModel(ref: ModelRef, fetcher: Fetcher, task?: Task): Promise<Resolved> {
  const { requester, partition } = fetcher;
  const allowed = (url: string | URL) => checkModelUrl(String(url), requester);
  if (isRegistryId(ref)) {
    const entry = registryEntry(ref);
    if (!entry)
      throw new WebqError(
        'NotFoundError',
        `unknown model id "${ref.slice(0, 80)}": built-in ids are ${[...REGISTRY.keys()].join(', ')}; or pass an ONNX model URL`,
      );
    const tasks = entryTasks(entry);
    if (task !== undefined && !tasks.includes(task))
      throw new WebqError(
        'NotSupportedError',
        `model ${entry.id} does not do ${task}; its tasks: ${tasks.join(', ')} (option task picks one)`,
      );
    const pipeline = pipelineFor(task ?? entry.task, entry.modelType);
    const host = await modelHost();
    // The user chose the model host, so its files are fetched for the user, whichever page asked for the id.
    const user: Requester = { origin: new URL(host).origin, page: false };
    // A pinned entry is fetched at its commit; the model store fetches only the files `pinned` lists and checks
    // each against its sha256.
    const file = (name: string) => checkModelUrl(hubFileUrl(host, entry.repo, name, entry.revision).href, user);
    const pinned = entry.sha256 && new Map(Object.entries(entry.sha256).map(([name, sha]) => [file(name).href, sha]));
    const graphs = Object.entries({ ...pipeline.graphs, ...entry.graphs }).map(
      ([role, name]) => [role, file(name)] as [string, URL],
    );
    return {
      kind: 'task',
      id: entry.id,
      pipeline,
      graphs,
      file,
      builtIn: true,
      ...(entry.revision && pinned && { pinned }),
      requester: user,
      partition: SHARED_PARTITION,
    };
  }
  if (task !== undefined) {
    if (typeof ref === 'string') ref = { url: ref, task };
    else if (ref.task !== undefined && ref.task !== task)
      throw new WebqError('DataError', `option task "${task}" contradicts the model's task "${ref.task}"`);
    else ref = { ...ref, task };
  }
  if (typeof ref === 'string' || !ref.task) {
    const url = allowed(typeof ref === 'string' ? ref : ref.url);
    return {
      kind: 'raw',
      id: typeof ref === 'string' ? url.href : (ref.id ?? url.href),
      url,
      sha256: typeof ref === 'string' ? undefined : ref.sha256,
      requester,
      partition,
    };
  }
  pipelineFor(ref.task); // an unknown task is refused before the URL is looked at
  const main = allowed(ref.url);
  // Speech recognition has two pipelines (Whisper, CTC): the graph's file name says which (tasks/index.ts).
  const pipeline = pipelineFor(ref.task, modelTypeOfGraph(ref.task, main));
  const inOnnxFolder = main.pathname.split('/').at(-2) === 'onnx';
  const root = new URL(inOnnxFolder ? '..' : '.', main);
  const tokenizer = ref.tokenizer === undefined ? undefined : allowed(ref.tokenizer);
  const file = (name: string) => (name === 'tokenizer.json' && tokenizer ? tokenizer : allowed(new URL(name, root)));
  const [mainRole, ...others] = Object.entries(pipeline.graphs);
  const graphs: [string, URL][] = [
    [mainRole![0], main],
    ...others.map(([role, name]) => [role, file(name)] as [string, URL]),
  ];
  return {
    kind: 'task',
    id: ref.id ?? main.href,
    pipeline,
    graphs,
    file,
    sha256: ref.sha256,
    builtIn: false,
    requester,
    partition,
  };
}

/**
 * Everything a reference may have loaded, for unload: each task of a registry id that serves several (their graphs
 * differ), else what `resolveModel` gives.
 */
export async function resolveAll(ref: ModelRef, fetcher: Fetcher): Promise<Resolved[]> {
  const entry = isRegistryId(ref) ? registryEntry(ref) : undefined;
  if (!entry) return [await resolveModel(ref, fetcher)];
  return Promise.all(entryTasks(entry).map((task) => resolveModel(ref, fetcher, task)));
}
