/**
 * Chat messages as a page passes them to a text-generation model (SPEC §8), checked at every hop: 1 … MAX_MESSAGES
 * of { role, content } with a known role and string content, at most MAX_PROMPT_CHARS characters in all.
 */
import { dataError } from './errors';

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export const MAX_MESSAGES = 1024;
export const MAX_PROMPT_CHARS = 1_000_000;
const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

export function checkMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_MESSAGES) {
    throw dataError(`input messages must be an array of 1 to ${MAX_MESSAGES} { role, content } objects`);
  }
  let chars = 0;
  return v.map((m, i) => {
    const o = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    if (!ROLES.includes(o.role as ChatRole)) {
      throw dataError(
        `input messages[${i}].role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(o.role)?.slice(0, 40)}`,
      );
    }
    if (typeof o.content !== 'string') throw dataError(`input messages[${i}].content must be a string`);
    chars += o.content.length;
    if (chars > MAX_PROMPT_CHARS)
      throw dataError(`input messages have more than ${MAX_PROMPT_CHARS} characters in all`);
    return { role: o.role as ChatRole, content: o.content };
  });
}
