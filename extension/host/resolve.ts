/**
 * What a model reference names (SPEC §2, §5): a registry id → its repo on the model host (the options page's
 * setting) with its task's graphs and companion files; a ModelSource with `task` → that task's pipeline on the given
 * graph, its companion files beside it (or one folder up when the graph sits in the hub's `onnx/` folder); anything
 * else → one raw ONNX graph. Every URL passes the same download rule (download.ts checkModelUrl).
 */
import { hubFileUrl, modelHost } from '../models/model-host';
import { registryEntry, REGISTRY } from '../models/registry';
import { WebqError } from '../shared/errors';
import type { ModelRef } from '../shared/types';
import { pipelineFor } from '../tasks';
import type { TaskPipeline } from '../tasks/types';
import { checkModelUrl } from './download';

export type Resolved =
  | { kind: 'raw'; id: string; url: URL; sha256?: string }
  | {
    kind: 'task'; id: string; pipeline: TaskPipeline;
    /** Graph URLs by role, main graph first. */
    graphs: [string, URL][];
    /** The URL of a companion file (tokenizer.json, config.json, …). */
    file(name: string): URL;
    /** Checks the main graph. */
    sha256?: string;
    /** Built-in models run at their profile's precision unless the options say otherwise (SPEC §2). */
    builtIn: boolean;
  };

/** `origin` is the caller's (a page may load from its own origin); the extension's own pages may load any https. */
export async function resolveModel(ref: ModelRef, origin: string, extensionOrigin?: string): Promise<Resolved> {
  const allowed = (url: string | URL) => checkModelUrl(String(url), origin, extensionOrigin);
  if (typeof ref === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(ref)) {
    const entry = registryEntry(ref);
    if (!entry) throw new WebqError('NotFoundError', `unknown model id "${ref.slice(0, 80)}": built-in ids are ${[...REGISTRY.keys()].join(', ')}; or pass an ONNX model URL`);
    const pipeline = pipelineFor(entry.task);
    const host = await modelHost();
    const file = (name: string) => allowed(hubFileUrl(host, entry.repo, name));
    const graphs = Object.entries({ ...pipeline.graphs, ...entry.graphs }).map(([role, name]) => [role, file(name)] as [string, URL]);
    return { kind: 'task', id: entry.id, pipeline, graphs, file, builtIn: true };
  }
  if (typeof ref === 'string' || !ref.task) {
    const url = allowed(typeof ref === 'string' ? ref : ref.url);
    return { kind: 'raw', id: typeof ref === 'string' ? url.href : ref.id ?? url.href, url, sha256: typeof ref === 'string' ? undefined : ref.sha256 };
  }
  const pipeline = pipelineFor(ref.task);
  const main = allowed(ref.url);
  const inOnnxFolder = main.pathname.split('/').at(-2) === 'onnx';
  const root = new URL(inOnnxFolder ? '..' : '.', main);
  const tokenizer = ref.tokenizer === undefined ? undefined : allowed(ref.tokenizer);
  const file = (name: string) => (name === 'tokenizer.json' && tokenizer ? tokenizer : allowed(new URL(name, root)));
  const [mainRole, ...others] = Object.entries(pipeline.graphs);
  const graphs: [string, URL][] = [[mainRole![0], main], ...others.map(([role, name]) => [role, file(name)] as [string, URL])];
  return { kind: 'task', id: ref.id ?? main.href, pipeline, graphs, file, sha256: ref.sha256, builtIn: false };
}
