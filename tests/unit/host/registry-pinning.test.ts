/**
 * Pinned registry entries (SPEC §3): fetched at their commit, every file checked against its listed sha256 before
 * use, no unlisted file fetched. A generated ViT (tests/support/hub-models/vit.ts) is served by a local mirror with
 * the hub's layout at a made-up commit; the model store runs for real (Node's fetch, fake-indexeddb, the real ONNX
 * preparation), only session creation is a stand-in. The built-in entries are not pinned yet (registry.ts says
 * why), so the entries here are test entries.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { ModelStore, type Job } from '../../../extension/host/model-store';
import type { Plan } from '../../../extension/host/plan';
import { resolveModel } from '../../../extension/host/resolve';
import { hubFileUrl, setModelHost } from '../../../extension/models/model-host';
import {
  addTestRegistryEntry,
  checkRegistryEntry,
  registryEntry,
  type RegistryEntry,
} from '../../../extension/models/registry';
import { deleteEntry, listEntries } from '../../../extension/storage/model-cache';
import { stagedTotals } from '../../../extension/storage/staging';
import { vitHubFiles } from '../../../tools/hub-models/vit';
import { mirrorRepo } from '../../../tools/hub-mirror';
import type { HubFiles } from '../../support/node-pipeline';
import { startServer, type TestServer } from '../../../tools/server';

const REVISION = 'c0ffee'.padEnd(40, '0');
const PLAN: Plan = { target: { backend: 'wasm' }, policy: null, variant: 'src', shaderPrecompilation: false };
const PAGE = { requester: { origin: 'https://site.example', page: true }, partition: 'https://site.example' };
const sha = (contents: Uint8Array | string) => createHash('sha256').update(contents).digest('hex');
const FILES: HubFiles = vitHubFiles();
const PINS = Object.fromEntries(Object.entries(FILES).map(([name, contents]) => [name, sha(contents)]));
const CALLER = { origin: 'https://site.example', topOrigin: 'https://site.example' };
let server: TestServer;

/** A pinned test entry for a repo on the mirror; `sha256` overrides the pins. */
function entry(id: string, repo: string, sha256: Record<string, string> = PINS): RegistryEntry {
  return { id, repo, task: 'image-classification', description: 'test', revision: REVISION, sha256 };
}

beforeAll(async () => {
  server = await startServer();
  await setModelHost(`${server.origin}/hub`);
  mirrorRepo(server, '/hub', 'test/vit', FILES, REVISION);
  addTestRegistryEntry(entry('test-pinned', 'test/vit'));
  // The graph on this repo is not what its pin says (a mirror or hub that serves other bytes).
  mirrorRepo(
    server,
    '/hub',
    'test/vit-tampered',
    { ...FILES, 'onnx/model.onnx': vitHubFiles({ staticBatch: 1 })['onnx/model.onnx']! },
    REVISION,
  );
  addTestRegistryEntry(entry('test-tampered-graph', 'test/vit-tampered'));
  mirrorRepo(
    server,
    '/hub',
    'test/vit-config',
    { ...FILES, 'preprocessor_config.json': '{"do_resize": false}' },
    REVISION,
  );
  addTestRegistryEntry(entry('test-tampered-config', 'test/vit-config'));
  // The pins leave out a file the pipeline needs, and an optional one.
  mirrorRepo(server, '/hub', 'test/vit-unlisted', FILES, REVISION);
  const { 'preprocessor_config.json': _, ...withoutPre } = PINS;
  addTestRegistryEntry(entry('test-unlisted', 'test/vit-unlisted', withoutPre));
  mirrorRepo(server, '/hub', 'test/vit-no-config', FILES, REVISION);
  const { 'config.json': __, ...withoutConfig } = PINS;
  addTestRegistryEntry(entry('test-no-config', 'test/vit-no-config', withoutConfig));
});
afterAll(() => server.close());
beforeEach(async () => {
  for (const e of await listEntries()) await deleteEntry(e.key);
});

function job(): Job {
  return { signal: new AbortController().signal, progress: () => undefined, delta: () => undefined };
}
const load = async (id: string) =>
  new ModelStore(async () => undefined).load(await resolveModel(id, PAGE), PLAN, CALLER, job(), []);
const hits = (repo: string, file: string) => server.hits.get(`/hub/${repo}/resolve/${REVISION}/${file}`) ?? 0;

describe('registry pins', () => {
  it('an entry is pinned by a commit id and a sha256 per file, or not at all; each field is checked', () => {
    const good = entry('x', 'a/b');
    expect(checkRegistryEntry(good)).toBe(good);
    for (const [field, bad] of [
      ['revision', { ...good, revision: 'main' }],
      ['revision', { ...good, revision: REVISION.slice(1) }],
      ['revision', { ...good, revision: REVISION.toUpperCase() }],
      ['sha256', { ...good, sha256: undefined }],
      ['sha256', { ...good, sha256: {} }],
      ['sha256["onnx/model.onnx"]', { ...good, sha256: { 'onnx/model.onnx': 'ab' } }],
      ['sha256["../model.onnx"]', { ...good, sha256: { '../model.onnx': 'a'.repeat(64) } }],
      ['revision', { ...good, revision: undefined }],
    ] as const)
      expect(() => checkRegistryEntry(bad as RegistryEntry), field).toThrow(field);
  });

  it('test entries can be added only under new test- ids, pinned; built-in entries cannot be replaced', () => {
    expect(() => addTestRegistryEntry({ ...entry('whisper-tiny', 'x/y') })).toThrow(/test-/);
    expect(() => addTestRegistryEntry({ ...entry('test-pinned', 'x/y') })).toThrow(/test-/);
    expect(() =>
      addTestRegistryEntry({ ...entry('test-unpinned', 'x/y'), revision: undefined, sha256: undefined }),
    ).toThrow(/pins/);
    expect(registryEntry('test-pinned')!.repo).toBe('test/vit');
    expect(Object.isFrozen(registryEntry('test-pinned')!.sha256)).toBe(true);
  });

  it('hub URLs of a pinned entry name its commit, not main; its files carry their sha256', async () => {
    expect(hubFileUrl('https://huggingface.co', 'a/b', 'onnx/model.onnx', REVISION).href).toBe(
      `https://huggingface.co/a/b/resolve/${REVISION}/onnx/model.onnx`,
    );
    const r = await resolveModel('test-pinned', PAGE);
    if (r.kind !== 'task') throw new Error('expected a task model');
    expect(r.graphs[0]![1].href).toBe(`${server.origin}/hub/test/vit/resolve/${REVISION}/onnx/model.onnx`);
    expect(r.pinned?.get(r.graphs[0]![1].href)).toBe(PINS['onnx/model.onnx']);
    expect(r.pinned?.get(r.file('preprocessor_config.json').href)).toBe(PINS['preprocessor_config.json']);
    expect(r.pinned?.has(r.file('tokenizer.json').href)).toBe(false); // listed nowhere: never fetched (below)
    // An unpinned built-in entry has no pins and is fetched from main.
    const builtIn = await resolveModel('vit-base-patch16-224', PAGE);
    expect(builtIn.kind === 'task' && builtIn.pinned).toBeUndefined();
    expect(builtIn.kind === 'task' && builtIn.graphs[0]![1].pathname).toMatch(/\/resolve\/main\//);
  });

  it('a pinned entry whose files match loads, each file fetched once at its commit', async () => {
    const loaded = await load('test-pinned');
    expect(loaded.info.id).toBe('test-pinned');
    for (const file of Object.keys(FILES)) expect(hits('test/vit', file), file).toBe(1);
    expect((await listEntries()).map((e) => e.sha256).sort()).toEqual(
      ['onnx/model.onnx', 'preprocessor_config.json', 'config.json'].map((f) => PINS[f]).sort(),
    );
  });

  it('a graph or a companion file that is not what its pin says is refused with a generic DataError, not cached', async () => {
    for (const [id, file] of [
      ['test-tampered-graph', 'onnx/model.onnx'],
      ['test-tampered-config', 'preprocessor_config.json'],
    ]) {
      const err = (await load(id!).catch((e: Error) => e)) as Error;
      expect(err, id).toMatchObject({ name: 'DataError', message: expect.stringContaining('pinned sha256') });
      expect(err.message).toContain(file);
      expect(err.message).not.toMatch(/[0-9a-f]{64}/); // neither the pin nor what was received
      // The refused file is not cached (a graph that matched its pin may be).
      expect(
        (await listEntries()).filter((e) => e.source.endsWith(file!)),
        id,
      ).toEqual([]);
    }
    expect(await stagedTotals()).toEqual({ chunks: 0, bytes: 0 });
  });

  it('a file the pins do not list is never fetched: a required one fails the load, an optional one is absent', async () => {
    await expect(load('test-unlisted')).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringContaining('preprocessor_config.json'),
    });
    expect(hits('test/vit-unlisted', 'preprocessor_config.json')).toBe(0);
    const loaded = await load('test-no-config');
    expect(loaded.info.id).toBe('test-no-config');
    expect(hits('test/vit-no-config', 'config.json')).toBe(0);
  });
});
