/**
 * The page side of `webq.LanguageModel` (extension/page/language-model.ts) over a recorded `call`: what it sends for
 * create (a registry id or `{ url, task }`), and `promptStreaming`'s stream with its `result` (the turn's RunResult,
 * which the popup's chat reads its decode rate from). The engine side is tested in tests/unit/generation and e2e.
 */
import { describe, expect, it } from 'vitest';
import { createLanguageModel, type SessionCall } from '../../../extension/page/language-model';
import type { RunResult } from '../../../extension/shared/types';
import { chatModelRef, CHAT_MODEL_IDS } from '../../../popup/chat';

const SESSION = '01234567-89ab-cdef-0123-456789abcdef';
const RESULT = {
  output: { text: 'Red.', tokens: [1, 2], finishReason: 'stop', usage: { promptTokens: 9, completionTokens: 2 } },
  performanceMetrics: { decodeTokensPerSecond: 42 },
} as unknown as RunResult;

/** A call that answers create and prompt as the engine would, sending `deltas` first; records every params. */
function recorder(deltas: string[], fail?: Error) {
  const sent: Record<string, unknown>[] = [];
  const call: SessionCall = async (params, extras = {}) => {
    sent.push(params);
    if (params.op === 'create') return { session: SESSION, contextUsage: 0, contextWindow: 256 };
    for (const d of deltas) extras.onDelta?.(d);
    if (fail) throw fail;
    return { result: RESULT, contextUsage: 20, contextWindow: 256 };
  };
  return { call, sent };
}

async function readAll(stream: ReadableStream<string>): Promise<string[]> {
  const out: string[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

describe('LanguageModel (page side)', () => {
  it('create sends a registry id, or { url, task } for a URL, and refuses other kinds of model by name', async () => {
    const { call, sent } = recorder([]);
    const LM = createLanguageModel(call);
    await LM.create({ model: 'qwen2.5-0.5b-instruct' });
    await LM.create({ model: { url: 'https://example.com/onnx/model.onnx', task: 'text-generation' } });
    expect(sent.map((p) => p.model)).toEqual([
      'qwen2.5-0.5b-instruct',
      { url: 'https://example.com/onnx/model.onnx', task: 'text-generation' },
    ]);
    await expect(LM.create({ model: 42 as never })).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/option model/),
    });
  });

  it("promptStreaming's stream gives the deltas, and its result is the turn's RunResult", async () => {
    const { call } = recorder(['Re', 'd.']);
    const session = await createLanguageModel(call).create();
    const stream = session.promptStreaming('Name a colour.');
    expect(await readAll(stream)).toEqual(['Re', 'd.']);
    expect(await stream.result).toBe(RESULT);
    expect(session.contextUsage).toBe(20);
  });

  it('a failed turn errors the stream and rejects its result with the same error', async () => {
    const error = Object.assign(new Error('too long'), { name: 'QuotaExceededError' });
    const { call } = recorder(['x'], error);
    const session = await createLanguageModel(call).create();
    const stream = session.promptStreaming('Hi');
    await expect(readAll(stream)).rejects.toBe(error);
    await expect(stream.result).rejects.toBe(error);
  });
});

describe("the popup chat's model field", () => {
  it('offers the registry LLM ids; an id is sent as it is, an http(s) URL with task text-generation', () => {
    expect(CHAT_MODEL_IDS).toEqual(['qwen2.5-0.5b-instruct', 'llama-3.2-1b-instruct']);
    expect(chatModelRef(' llama-3.2-1b-instruct ')).toBe('llama-3.2-1b-instruct');
    expect(chatModelRef('https://h.example/m/onnx/model.onnx')).toEqual({
      url: 'https://h.example/m/onnx/model.onnx',
      task: 'text-generation',
    });
    expect(chatModelRef('no-such-model')).toBe('no-such-model'); // the engine answers NotFoundError, shown in the chat
    expect(chatModelRef('  ')).toBeNull();
  });
});
