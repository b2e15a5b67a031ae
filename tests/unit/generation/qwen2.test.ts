/**
 * The decode loop on the generated Qwen2 (Qwen tokenizer and chat template, q/k/v biases, vocab_size padded past
 * the tokenizer), and on a variant of its graph without a position_ids input (positions from the past length).
 */
import { describe, expect, test } from 'vitest';
import { generateText, promptIds, type GenerationInput } from '../../../extension/tasks/generation/index';
import { qwen2HubFiles } from '../../../tools/hub-models/qwen2';
import { load, referenceGreedy } from './lm-harness';
import { decodeLoopSuite } from './lm-suite';

describe('text generation on a generated Qwen2', () => decodeLoopSuite('qwen2', () => qwen2HubFiles()));
test('a Qwen2 graph without position_ids: the loop feeds what the graph declares', async () => {
  const m = await load(qwen2HubFiles({ seed: 99, spec: { positionIds: false } }));
  try {
    expect(m.runner.io('model').inputs.map((i) => i.name)).not.toContain('position_ids');
    const input: GenerationInput = { kind: 'messages', messages: [{ role: 'user', content: 'Hi' }] };
    const prompt = await promptIds(m.assets, input);
    const r = await generateText(m.assets, input, { maxNewTokens: 5 }, m.runner);
    expect(r.tokens).toEqual(await referenceGreedy(m.runner, prompt, 5, m.assets.config.eosIds, m.assets.vocabLimit));
  } finally {
    await m.runner.release();
  }
}, 30_000);
