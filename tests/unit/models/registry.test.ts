import { describe, expect, it } from 'vitest';
import { checkRegistryEntry, entryTasks, REGISTRY, registryEntry } from '../../../extension/models/registry';
import { checkModelHost, hubFileUrl } from '../../../extension/models/model-host';
import { pipelineFor } from '../../../extension/tasks';

describe('registry', () => {
  it("has the seed's benchmark ids, wav2vec2, its two LLMs and T5, each with a task webq runs", () => {
    expect([...REGISTRY.keys()].sort()).toEqual([
      'bert-base-uncased',
      'clip-vit-base-patch32',
      'llama-3.2-1b-instruct',
      'qwen2.5-0.5b-instruct',
      't5-small',
      'vit-base-patch16-224',
      'wav2vec2-base-960h',
      'whisper-tiny',
    ]);
    for (const id of ['qwen2.5-0.5b-instruct', 'llama-3.2-1b-instruct'])
      expect(pipelineFor(registryEntry(id)!.task).task).toBe('text-generation');
    expect(pipelineFor(registryEntry('bert-base-uncased')!.task).modality).toBe('text');
    expect(pipelineFor(registryEntry('vit-base-patch16-224')!.task).modality).toBe('vision');
    expect(pipelineFor(registryEntry('whisper-tiny')!.task).modality).toBe('audio');
    const t5 = pipelineFor(registryEntry('t5-small')!.task);
    expect([t5.task, t5.modality, Object.keys(t5.graphs)]).toEqual([
      'text2text-generation',
      'text',
      ['encoder', 'decoder', 'decoderWithPast'],
    ]);
    const wav2vec2 = registryEntry('wav2vec2-base-960h')!;
    expect(pipelineFor(wav2vec2.task, wav2vec2.modelType).graphs).toEqual({ model: 'onnx/model.onnx' });
  });

  it('an entry may serve several tasks, its default first (CLIP: zero-shot labels and image embeddings)', () => {
    const clip = registryEntry('clip-vit-base-patch32')!;
    expect(entryTasks(clip)).toEqual(['zero-shot-image-classification', 'image-feature-extraction']);
    expect(clip.task).toBe('zero-shot-image-classification');
    expect(Object.isFrozen(clip.tasks)).toBe(true);
    for (const task of entryTasks(clip)) expect(pipelineFor(task).modality).toBe('vision');
    expect(entryTasks(registryEntry('bert-base-uncased')!)).toEqual(['feature-extraction']);
    const entry = { id: 'x', repo: 'a/b', description: '' };
    expect(() =>
      checkRegistryEntry({ ...entry, task: 'feature-extraction', tasks: ['image-feature-extraction'] }),
    ).toThrow(/tasks must list distinct tasks, the default `task` first/);
    expect(() =>
      checkRegistryEntry({ ...entry, task: 'feature-extraction', tasks: ['feature-extraction', 'feature-extraction'] }),
    ).toThrow(/tasks/);
  });

  it('looks ids up exactly, with no prototype keys', () => {
    expect(registryEntry('BERT-base-uncased')).toBeUndefined();
    expect(registryEntry('constructor')).toBeUndefined();
    expect(registryEntry('__proto__')).toBeUndefined();
  });

  it('entries are frozen data', () => {
    expect(Object.isFrozen(registryEntry('whisper-tiny'))).toBe(true);
  });

  it('refuses tasks it does not know, by name', () => {
    expect(() => pipelineFor('summarization' as never)).toThrow(/not one webq runs/);
    expect(() => pipelineFor('toString' as never)).toThrow(/not one webq runs/);
    expect(() => pipelineFor('automatic-speech-recognition', 'toString')).toThrow(/model type "toString"/);
  });
});

describe('model host', () => {
  it('builds hub URLs: /{repo}/resolve/main/{file}, each segment encoded', () => {
    expect(hubFileUrl('https://huggingface.co', 'Xenova/whisper-tiny', 'onnx/encoder_model.onnx').href).toBe(
      'https://huggingface.co/Xenova/whisper-tiny/resolve/main/onnx/encoder_model.onnx',
    );
    expect(hubFileUrl('http://127.0.0.1:8080/mirror/', 'a/b c', 'x?y.json').href).toBe(
      'http://127.0.0.1:8080/mirror/a/b%20c/resolve/main/x%3Fy.json',
    );
  });

  it('accepts https or loopback http, and says why it refuses the rest', () => {
    expect(checkModelHost(' https://hf-mirror.example/ ')).toEqual({ ok: true, url: 'https://hf-mirror.example' });
    expect(checkModelHost('http://localhost:9000/models')).toEqual({ ok: true, url: 'http://localhost:9000/models' });
    expect(checkModelHost('http://example.com')).toMatchObject({ ok: false, reason: expect.stringMatching(/https/) });
    expect(checkModelHost('https://u:p@example.com')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/password/),
    });
  });
});
