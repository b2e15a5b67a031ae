/** `webq check` for an id that serves several tasks (CLIP): --task picks one, --labels feeds zero-shot. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCheckArgs, UsageError, type CheckConfig } from '../../../cli/args';
import { taskModel } from '../../../cli/tasks';

const parse = (...argv: string[]) => parseCheckArgs(argv, process.cwd()) as CheckConfig;

describe('webq check --model clip-vit-base-patch32', () => {
  it('runs its default task, zero-shot, with default or given candidate labels passed as a run option', () => {
    const config = parse('--model', 'clip-vit-base-patch32', '--labels', 'red,blue', '--labels', 'a cat');
    expect(config.model).toEqual({
      kind: 'id',
      id: 'clip-vit-base-patch32',
      repo: 'Xenova/clip-vit-base-patch32',
      task: 'zero-shot-image-classification',
      labels: ['red', 'blue', 'a cat'],
    });
    const spec = config.model as Extract<CheckConfig['model'], { kind: 'id' }>;
    // An image file the page turns into a Blob; the plan carries the labels.
    const file = join(mkdtempSync(join(tmpdir(), 'webq-cli-')), 'image.png');
    writeFileSync(file, new Uint8Array([137, 80, 78, 71]));
    const plan = taskModel(spec, file).plan([]);
    expect(plan).toMatchObject({
      kind: 'task',
      keep: ['labels'],
      options: { candidateLabels: ['red', 'blue', 'a cat'] },
    });
  });

  it('--task image-feature-extraction: the image embedding, judged by cosine; other tasks and misplaced flags refused', () => {
    const config = parse('--model', 'clip-vit-base-patch32', '--task', 'image-feature-extraction');
    expect(config.model).toMatchObject({ kind: 'id', task: 'image-feature-extraction' });
    expect(() => parse('--model', 'clip-vit-base-patch32', '--task', 'feature-extraction')).toThrow(UsageError);
    expect(() => parse('--model', 'clip-vit-base-patch32', '--task', 'feature-extraction')).toThrow(
      /expected one of zero-shot-image-classification, image-feature-extraction/,
    );
    expect(() => parse('--model', 'ppocr', '--task', 'image-feature-extraction')).toThrow(
      /--task applies to registry ids/,
    );
    expect(() =>
      parse('--model', 'clip-vit-base-patch32', '--task', 'image-feature-extraction', '--labels', 'a'),
    ).toThrow(/--labels applies/);
    expect(() => parse('--model', 'clip-vit-base-patch32', '--input', 'notes.txt')).toThrow(/a \.png/);
  });
});

describe('webq check --model t5-small', () => {
  it('runs text2text-generation on a prompt (the default or --input), greedy with a token limit, judged by the text', () => {
    const config = parse('--model', 't5-small', '--input', 'translate English to German: red cat');
    expect(config.model).toEqual({ kind: 'id', id: 't5-small', repo: 'Xenova/t5-small', task: 'text2text-generation' });
    const spec = config.model as Extract<CheckConfig['model'], { kind: 'id' }>;
    const check = taskModel(spec, config.input);
    expect(check.plan([])).toEqual({
      kind: 'task',
      input: { text: 'translate English to German: red cat' },
      keep: ['text', 'tokens'],
      options: { maxNewTokens: 48 },
    });
    expect(taskModel(spec, undefined).plan([])).toMatchObject({ input: { text: expect.stringMatching(/^translate/) } });
    expect(check.compare({ text: 'rot Katze', tokens: [1] }, { text: 'rot Katze', tokens: [1] }).agrees).toBe(true);
    expect(check.compare({ text: 'rot Katze', tokens: [1] }, { text: 'rot Hund', tokens: [2] })).toMatchObject({
      agrees: false,
      summary: expect.stringMatching(/Hund/),
    });
  });
});

describe('webq check --model qwen2.5-0.5b-instruct (text generation)', () => {
  it('sends the prompt as one user message, greedy with a token limit, judged by the first 8 tokens', () => {
    const config = parse('--model', 'qwen2.5-0.5b-instruct', '--input', 'Say hello.');
    expect(config.model).toEqual({
      kind: 'id',
      id: 'qwen2.5-0.5b-instruct',
      repo: 'onnx-community/Qwen2.5-0.5B-Instruct',
      task: 'text-generation',
    });
    const spec = config.model as Extract<CheckConfig['model'], { kind: 'id' }>;
    const check = taskModel(spec, config.input);
    expect(check.plan([])).toEqual({
      kind: 'task',
      input: { messages: [{ role: 'user', content: 'Say hello.' }] },
      keep: ['text', 'tokens'],
      options: { maxNewTokens: 32 },
    });
    const fp32 = { text: 'a b c d e f g h i j', tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] };
    expect(check.compare(fp32, fp32)).toMatchObject({ agrees: true, summary: 'same 10 tokens' });
    // Drifting after the first 8 tokens agrees; before them it does not.
    expect(check.compare(fp32, { text: '…', tokens: [1, 2, 3, 4, 5, 6, 7, 8, 42] })).toMatchObject({
      agrees: true,
      summary: "first 8 of 10 tokens as fp32's",
    });
    expect(check.compare(fp32, { text: '…', tokens: [1, 2, 3, 9] })).toMatchObject({
      agrees: false,
      summary: "first 3 of 10 tokens as fp32's (8 needed)",
    });
    // fp32 stopping sooner: all of its tokens are needed.
    const short = { text: 'Hi', tokens: [5, 6] };
    expect(check.compare(short, { text: 'Hi', tokens: [5, 6] }).agrees).toBe(true);
    expect(check.compare(short, { text: 'Ho', tokens: [5, 7] }).agrees).toBe(false);
    expect(taskModel(spec, undefined).plan([])).toMatchObject({
      input: { messages: [{ role: 'user', content: expect.stringMatching(/colours/) }] },
    });
  });
});
