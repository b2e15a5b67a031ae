/**
 * The built-in models (SPEC §5) as data: an id names a repo on the model host and a task; the task's pipeline
 * (extension/tasks) says which graphs and companion files to fetch and how to pre- and post-process. Adding a model
 * of a known task is one entry here, no code.
 *
 * The repos are the ONNX exports transformers.js uses (optimum layout: graphs under `onnx/`, tokenizer and configs
 * at the root), so the default host serves them as they are and a mirror only needs the same paths.
 *
 * Pinning (SPEC §3): an entry with a `revision` is fetched at that commit (`resolve/{revision}/`, never a branch
 * that moves) and lists the sha256 of every file it has; the engine checks each file against it before use and
 * fetches no file the list does not name (resolve.ts, model-store.ts). The built-in entries below carry no pins yet:
 * their commits and hashes must be read from the hub, which the machine this was written on could not reach, and a
 * made-up value would be worse than none. Until they are filled in they are fetched from `resolve/main` and only
 * checked for integrity in the cache; the mechanism itself is tested with generated pinned entries
 * (tests/unit/host/resolve.test.ts, tests/unit/host/model-store.test.ts, tests/e2e/registry-suite.ts).
 */
import { WebqError } from '../shared/errors';
import type { Task } from '../shared/types';

export interface RegistryEntry {
  readonly id: string;
  /** `{owner}/{name}` on the model host. */
  readonly repo: string;
  /** The task a page gets when it names none: the first of `tasks`. */
  readonly task: Task;
  /**
   * config.json's `model_type`, where the task has more than one pipeline (tasks/index.ts): `wav2vec2` runs
   * automatic-speech-recognition by CTC. Absent: the task's default pipeline (Whisper for speech).
   */
  readonly modelType?: string;
  /**
   * Every task the entry serves, its default first, where it serves more than one (CLIP: zero-shot labels and image
   * embeddings from one repo); the page's `task` option picks one. Absent: `task` alone.
   */
  readonly tasks?: readonly Task[];
  readonly description: string;
  /** Graph files by role, where they differ from the task's defaults. */
  readonly graphs?: Readonly<Record<string, string>>;
  /** The hub commit (40 hex digits) the files are fetched at. Absent: unpinned, fetched from `main`. */
  readonly revision?: string;
  /** With `revision`: sha256 (64 hex digits) of every file of the entry, by its path in the repo. */
  readonly sha256?: Readonly<Record<string, string>>;
}

const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * A registry entry as data that can be trusted: pins are both there or both absent, a commit id (not a branch or
 * tag, which can move), and a lowercase sha256 for each file path. Throws naming the field otherwise.
 */
export function checkRegistryEntry(entry: RegistryEntry): RegistryEntry {
  const bad = (field: string, why: string) =>
    new WebqError('DataError', `registry entry ${JSON.stringify(entry.id)}: ${field} ${why}`);
  if (entry.tasks !== undefined && (entry.tasks[0] !== entry.task || new Set(entry.tasks).size !== entry.tasks.length))
    throw bad('tasks', 'must list distinct tasks, the default `task` first');
  if (entry.revision === undefined && entry.sha256 === undefined) return entry;
  if (typeof entry.revision !== 'string' || !COMMIT.test(entry.revision))
    throw bad('revision', 'must be a commit id of 40 lowercase hex digits');
  if (typeof entry.sha256 !== 'object' || entry.sha256 === null || Object.keys(entry.sha256).length === 0)
    throw bad('sha256', 'must list the sha256 of every file of a pinned entry');
  for (const [file, hash] of Object.entries(entry.sha256)) {
    if (!file || file.startsWith('/') || file.split('/').some((part) => part === '' || part === '.' || part === '..'))
      throw bad(`sha256[${JSON.stringify(file)}]`, 'must be a relative path in the repo');
    if (typeof hash !== 'string' || !SHA256.test(hash))
      throw bad(`sha256[${JSON.stringify(file)}]`, 'must be 64 lowercase hex digits');
  }
  return entry;
}

// Unpinned: no revision or sha256 below, because the hub could not be reached to read them (see the header).
const entries: RegistryEntry[] = [
  {
    id: 'bert-base-uncased',
    repo: 'Xenova/bert-base-uncased',
    task: 'feature-extraction',
    description:
      'BERT base (uncased), 110M parameters: English text → token embeddings and a mean-pooled sentence embedding',
  },
  {
    id: 'vit-base-patch16-224',
    repo: 'Xenova/vit-base-patch16-224',
    task: 'image-classification',
    description: 'ViT base, 16×16 patches at 224×224, ImageNet-1k: image → top-k of 1,000 labels',
  },
  {
    id: 'clip-vit-base-patch32',
    repo: 'Xenova/clip-vit-base-patch32',
    task: 'zero-shot-image-classification',
    tasks: ['zero-shot-image-classification', 'image-feature-extraction'],
    description:
      'CLIP ViT-B/32, image and text towers: image + candidate texts → zero-shot labels, or image → a 512-wide embedding',
  },
  {
    id: 'whisper-tiny',
    repo: 'Xenova/whisper-tiny',
    task: 'automatic-speech-recognition',
    description:
      'Whisper tiny, 39M parameters, multilingual: up to 300 s of audio in 30 s windows → text, optionally timestamps or an English translation (greedy decoding with a KV cache)',
  },
  {
    id: 'wav2vec2-base-960h',
    repo: 'Xenova/wav2vec2-base-960h',
    task: 'automatic-speech-recognition',
    modelType: 'wav2vec2',
    description:
      'wav2vec 2.0 base, 95M parameters, fine-tuned on 960 h of LibriSpeech: up to 30 s of English audio → upper-case text (CTC, one pass)',
  },
  {
    id: 'qwen2.5-0.5b-instruct',
    repo: 'onnx-community/Qwen2.5-0.5B-Instruct',
    task: 'text-generation',
    description: 'Qwen2.5 0.5B Instruct: chat messages or a prompt → generated text (GQA, KV cache), streamed',
  },
  {
    id: 'llama-3.2-1b-instruct',
    repo: 'onnx-community/Llama-3.2-1B-Instruct',
    task: 'text-generation',
    description: 'Llama 3.2 1B Instruct: chat messages or a prompt → generated text (GQA, KV cache), streamed',
  },
  {
    id: 't5-small',
    repo: 'Xenova/t5-small',
    task: 'text2text-generation',
    description:
      'T5 small, 60M parameters, encoder-decoder: a prompt naming its task ("translate English to German: …") → text (KV cache), streamed',
  },
];

const frozen = (e: RegistryEntry): RegistryEntry =>
  Object.freeze({
    ...checkRegistryEntry(e),
    ...(e.sha256 && { sha256: Object.freeze({ ...e.sha256 }) }),
    ...(e.tasks && { tasks: Object.freeze([...e.tasks]) }),
  });

const registry = new Map(entries.map((e) => [e.id, frozen(e)]));
export const REGISTRY: ReadonlyMap<string, RegistryEntry> = registry;

/** Ids are looked up exactly: 'BERT-base-uncased' is not an id (the hub's repo names are case-sensitive too). */
export function registryEntry(id: string): RegistryEntry | undefined {
  return REGISTRY.get(id);
}

/** The tasks an entry serves, its default first. */
export function entryTasks(entry: RegistryEntry): readonly Task[] {
  return entry.tasks ?? [entry.task];
}

/**
 * For tests: adds a pinned entry whose id starts with `test-`, so the pinning path can be run against a mirror
 * serving generated files. It cannot touch a built-in entry (an existing id is refused) nor add an unpinned one.
 */
export function addTestRegistryEntry(entry: RegistryEntry): void {
  if (!entry || typeof entry.id !== 'string' || !entry.id.startsWith('test-') || registry.has(entry.id))
    throw new Error('a test entry needs a new id starting with "test-"');
  if (typeof entry.repo !== 'string' || typeof entry.task !== 'string' || !entry.revision)
    throw new Error('a test entry needs a repo, a task and pins');
  registry.set(entry.id, frozen({ ...entry }));
}

/**
 * Test hook (tests/e2e/registry-suite.ts): `addTestRegistryEntry` by a runtime message. Reachable only from the
 * extension's own contexts — this extension, no tab, an extension URL — so not by content scripts and therefore not
 * by pages (no externally_connectable), like gpu.ts's device-loss hook. Each context keeps its own registry.
 */
const TEST_ADD_ENTRY = 'webq-test:add-pinned-registry-entry';
const runtime = (globalThis as { chrome?: typeof chrome }).chrome?.runtime;
if (runtime?.onMessage && typeof runtime.getURL === 'function') {
  runtime.onMessage.addListener(
    (message: unknown, sender: chrome.runtime.MessageSender, sendResponse: (r: unknown) => void) => {
      const m = message as { type?: unknown; entry?: RegistryEntry } | null;
      if (m?.type !== TEST_ADD_ENTRY) return undefined;
      if (sender.id !== runtime.id || sender.tab || !sender.url?.startsWith(runtime.getURL(''))) return undefined;
      try {
        addTestRegistryEntry(m.entry!);
        sendResponse({ added: m.entry!.id });
      } catch (err) {
        sendResponse({ error: (err as Error).message });
      }
      return undefined;
    },
  );
}
