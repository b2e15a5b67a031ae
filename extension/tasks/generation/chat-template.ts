/**
 * Chat messages → the prompt text the model was trained on, with the model's own tokenizer_config.json
 * `chat_template` (Jinja, rendered by @huggingface/jinja as transformers.js does) and `add_generation_prompt: true`,
 * so the text ends where the assistant's answer begins. The template already writes the special tokens (bos), so
 * its text is tokenized without the tokenizer's own special tokens.
 *
 * A plain string is a raw prompt, used as it is and tokenized with the tokenizer's special tokens (what Hugging
 * Face's text-generation pipeline and transformers.js do with a string): continuing text is what a string asks for
 * even on a chat model. The Prompt API layer (LanguageModel) turns its strings into user messages itself.
 *
 * The template comes from the model (a page's model is untrusted): its size and the rendered size are capped, and
 * rendering errors are DataErrors. Jinja has loops, so the engine should render in a worker with a time budget.
 */
import { Template } from '@huggingface/jinja';
import { dataError } from '../../shared/errors';

import { MAX_PROMPT_CHARS, type ChatMessage } from '../../shared/messages';

// The page's messages are checked at every hop (shared/messages.ts, without pulling Jinja into the page's bundle).
export { checkMessages, MAX_MESSAGES, MAX_PROMPT_CHARS, type ChatMessage, type ChatRole } from '../../shared/messages';

export const MAX_TEMPLATE_CHARS = 256 * 1024;

export interface ChatTemplate {
  template: Template;
  bosToken: string;
  eosToken: string;
}

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken object `{ content }`. */
function tokenText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return '';
}

/** The template text: a string, or a list of named templates of which 'default' is the chat one. */
function templateText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => typeof t === 'object' && t !== null && (t as { name?: unknown }).name === 'default');
    const text = (named as { template?: unknown } | undefined)?.template;
    if (typeof text === 'string') return text;
  }
  throw dataError(
    "the model's tokenizer_config.json chat_template must be a string or a list with a 'default' template",
  );
}

/** The model's chat template, or undefined when its tokenizer_config.json has none (a base model). */
export function compileChatTemplate(tokenizerConfig: Readonly<Record<string, unknown>>): ChatTemplate | undefined {
  const text = templateText(tokenizerConfig.chat_template);
  if (text === undefined) return undefined;
  if (text.length > MAX_TEMPLATE_CHARS) {
    throw dataError(
      `the model's chat_template has ${text.length} characters; webq takes at most ${MAX_TEMPLATE_CHARS}`,
    );
  }
  let template: Template;
  try {
    template = new Template(text);
  } catch (err) {
    throw dataError(
      `the model's chat_template cannot be parsed: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
    );
  }
  return { template, bosToken: tokenText(tokenizerConfig.bos_token), eosToken: tokenText(tokenizerConfig.eos_token) };
}

/** The prompt text of `messages`, ending with the assistant's turn header. */
export function renderChat(chat: ChatTemplate, messages: readonly ChatMessage[]): string {
  let text: string;
  try {
    text = chat.template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: true,
      bos_token: chat.bosToken,
      eos_token: chat.eosToken,
    });
  } catch (err) {
    throw dataError(
      `the model's chat_template failed on these messages: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
    );
  }
  if (text.length > MAX_PROMPT_CHARS)
    throw dataError(`the rendered chat prompt has ${text.length} characters; at most ${MAX_PROMPT_CHARS}`);
  return text;
}
