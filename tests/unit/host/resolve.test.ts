import { describe, expect, it } from 'vitest';
import { resolveAll, resolveModel } from '../../../extension/host/resolve';

const PAGE = { requester: { origin: 'https://site.example', page: true }, partition: 'https://site.example' };

describe('resolveModel', () => {
  it('a registry id → its repo on the default model host (no setting readable here), graphs by role, files beside', async () => {
    const r = await resolveModel('whisper-tiny', PAGE);
    if (r.kind !== 'task') throw new Error('expected a task model');
    expect(r).toMatchObject({ id: 'whisper-tiny', builtIn: true });
    expect(r.graphs.map(([role, url]) => [role, url.href])).toEqual([
      ['encoder', 'https://huggingface.co/Xenova/whisper-tiny/resolve/main/onnx/encoder_model.onnx'],
      ['decoder', 'https://huggingface.co/Xenova/whisper-tiny/resolve/main/onnx/decoder_model.onnx'],
      ['decoderWithPast', 'https://huggingface.co/Xenova/whisper-tiny/resolve/main/onnx/decoder_with_past_model.onnx'],
    ]);
    expect(r.file('generation_config.json').href).toBe(
      'https://huggingface.co/Xenova/whisper-tiny/resolve/main/generation_config.json',
    );
  });

  it('a custom model with task: companion files one folder up from onnx/, or beside; tokenizer overrides; not built in', async () => {
    const hub = await resolveModel(
      {
        url: 'https://cdn.example/me/model/resolve/main/onnx/model.onnx',
        task: 'feature-extraction',
        sha256: 'ab'.repeat(32),
      },
      PAGE,
    );
    if (hub.kind !== 'task') throw new Error('expected a task model');
    expect(hub.builtIn).toBe(false);
    expect(hub.sha256).toBe('ab'.repeat(32));
    expect(hub.file('tokenizer.json').href).toBe('https://cdn.example/me/model/resolve/main/tokenizer.json');
    const flat = await resolveModel(
      {
        url: 'https://cdn.example/models/bert.onnx',
        task: 'feature-extraction',
        tokenizer: 'https://cdn.example/tok/t.json',
      },
      PAGE,
    );
    if (flat.kind !== 'task') throw new Error('expected a task model');
    expect(flat.file('config.json').href).toBe('https://cdn.example/models/config.json');
    expect(flat.file('tokenizer.json').href).toBe('https://cdn.example/tok/t.json');
  });

  it('t5-small and a custom text2text-generation model: the encoder, then both decoders beside it', async () => {
    const t5 = await resolveModel('t5-small', PAGE);
    if (t5.kind !== 'task') throw new Error('expected a task model');
    expect([t5.pipeline.task, t5.graphs.map(([role, url]) => [role, url.pathname])]).toEqual([
      'text2text-generation',
      [
        ['encoder', '/Xenova/t5-small/resolve/main/onnx/encoder_model.onnx'],
        ['decoder', '/Xenova/t5-small/resolve/main/onnx/decoder_model.onnx'],
        ['decoderWithPast', '/Xenova/t5-small/resolve/main/onnx/decoder_with_past_model.onnx'],
      ],
    ]);
    const custom = await resolveModel(
      { url: 'https://cdn.example/me/t5/onnx/encoder_model.onnx', task: 'text2text-generation' },
      PAGE,
    );
    if (custom.kind !== 'task') throw new Error('expected a task model');
    expect(custom.graphs.map(([role, url]) => [role, url.href])).toEqual([
      ['encoder', 'https://cdn.example/me/t5/onnx/encoder_model.onnx'],
      ['decoder', 'https://cdn.example/me/t5/onnx/decoder_model.onnx'],
      ['decoderWithPast', 'https://cdn.example/me/t5/onnx/decoder_with_past_model.onnx'],
    ]);
    expect(custom.file('config.json').href).toBe('https://cdn.example/me/t5/config.json');
  });

  it('an id serving several tasks: option task picks one (default the first), each task fetching only its graphs', async () => {
    const graphsOf = async (task?: Parameters<typeof resolveModel>[2]) => {
      const r = await resolveModel('clip-vit-base-patch32', PAGE, task);
      if (r.kind !== 'task') throw new Error('expected a task model');
      return [r.pipeline.task, r.graphs.map(([role, url]) => [role, url.pathname])];
    };
    const zeroShot = [
      'zero-shot-image-classification',
      [['model', '/Xenova/clip-vit-base-patch32/resolve/main/onnx/model.onnx']],
    ];
    expect(await graphsOf()).toEqual(zeroShot);
    expect(await graphsOf('zero-shot-image-classification')).toEqual(zeroShot);
    expect(await graphsOf('image-feature-extraction')).toEqual([
      'image-feature-extraction',
      [['model', '/Xenova/clip-vit-base-patch32/resolve/main/onnx/vision_model.onnx']],
    ]);
    await expect(resolveModel('clip-vit-base-patch32', PAGE, 'feature-extraction')).rejects.toMatchObject({
      name: 'NotSupportedError',
      message: expect.stringMatching(
        /does not do feature-extraction; its tasks: zero-shot-image-classification, image-feature-extraction/,
      ),
    });
    await expect(resolveModel('bert-base-uncased', PAGE, 'image-classification')).rejects.toMatchObject({
      name: 'NotSupportedError',
    });
    expect(await resolveModel('bert-base-uncased', PAGE, 'feature-extraction')).toMatchObject({
      id: 'bert-base-uncased',
    });
    // unload releases what every task of the id may have loaded.
    const all = await resolveAll('clip-vit-base-patch32', PAGE);
    expect(all.map((r) => (r.kind === 'task' ? r.pipeline.task : r.kind))).toEqual([
      'zero-shot-image-classification',
      'image-feature-extraction',
    ]);
    expect(await resolveAll('bert-base-uncased', PAGE)).toHaveLength(1);
  });

  it('option task with a model URL: the same as { url, task }; contradicting the ModelSource is a DataError', async () => {
    const url = 'https://cdn.example/me/clip/resolve/main/onnx/vision_model.onnx';
    expect(await resolveModel(url, PAGE, 'image-feature-extraction')).toMatchObject({
      kind: 'task',
      builtIn: false,
      pipeline: { task: 'image-feature-extraction' },
    });
    await expect(
      resolveModel({ url, task: 'image-classification' }, PAGE, 'image-feature-extraction'),
    ).rejects.toMatchObject({ name: 'DataError', message: expect.stringMatching(/contradicts/) });
  });

  it("Whisper by its merged decoder: the 'whisper-merged' pipeline, main graph that file, the encoder beside it", async () => {
    const r = await resolveModel(
      {
        url: 'https://cdn.example/me/whisper/resolve/main/onnx/decoder_model_merged.onnx',
        task: 'automatic-speech-recognition',
      },
      PAGE,
    );
    if (r.kind !== 'task') throw new Error('expected a task model');
    expect(r.pipeline.graphs).toEqual({
      decoder: 'onnx/decoder_model_merged.onnx',
      encoder: 'onnx/encoder_model.onnx',
    });
    expect(r.graphs.map(([role, url]) => [role, url.href])).toEqual([
      ['decoder', 'https://cdn.example/me/whisper/resolve/main/onnx/decoder_model_merged.onnx'],
      ['encoder', 'https://cdn.example/me/whisper/resolve/main/onnx/encoder_model.onnx'],
    ]);
  });

  it('a URL or a ModelSource without task is one raw graph', async () => {
    expect(await resolveModel('https://cdn.example/m.onnx', PAGE)).toMatchObject({
      kind: 'raw',
      id: 'https://cdn.example/m.onnx',
    });
    expect(await resolveModel({ url: 'https://cdn.example/m.onnx', id: 'mine' }, PAGE)).toMatchObject({
      kind: 'raw',
      id: 'mine',
    });
  });

  it("every URL passes the download rule, the tokenizer's too; unknown ids name the known ones", async () => {
    await expect(resolveModel('http://evil.example/m.onnx', PAGE)).rejects.toMatchObject({ name: 'NotAllowedError' });
    await expect(
      resolveModel(
        { url: 'https://cdn.example/m.onnx', task: 'feature-extraction', tokenizer: 'http://evil.example/t.json' },
        PAGE,
      ),
    ).rejects.toMatchObject({ name: 'NotAllowedError' });
    await expect(resolveModel('gpt-99', PAGE)).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(/bert-base-uncased, vit-base-patch16-224, .*whisper-tiny/),
    });
  });

  it('registry ids are fetched for the user and shared by every site; what a page names stays in its partition', async () => {
    const registry = await resolveModel('bert-base-uncased', PAGE);
    expect(registry).toMatchObject({ partition: '', requester: { page: false } });
    const named = await resolveModel({ url: 'https://cdn.example/m.onnx', task: 'feature-extraction' }, PAGE);
    expect(named).toMatchObject({
      partition: 'https://site.example',
      requester: { origin: 'https://site.example', page: true },
    });
    // A public page cannot point webq at the intranet, as a graph or as a companion file.
    await expect(resolveModel('https://intranet/m.onnx', PAGE)).rejects.toMatchObject({ name: 'NotAllowedError' });
    await expect(
      resolveModel(
        { url: 'https://cdn.example/m.onnx', task: 'feature-extraction', tokenizer: 'https://192.168.1.1/t.json' },
        PAGE,
      ),
    ).rejects.toMatchObject({ name: 'NotAllowedError' });
  });
});
