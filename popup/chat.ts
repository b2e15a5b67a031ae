/**
 * The popup's chat tab: a conversation with a text-generation model (a registry LLM id, or a URL run with task
 * text-generation), its reply streamed in as it is decoded, a Stop button, and the decode rate after each reply.
 *
 * A conversation is one `webq.LanguageModel` session over the popup's UI port: the engine keeps the history and its KV
 * cache, so each message runs only its own new tokens (a `run` with the whole `messages` list would prefill the
 * history again every turn). The reply's figures come from the stream's `result` (`performanceMetrics`). Changing the
 * model or the settings starts a new session from the next message, carrying the conversation so far over (prefilled
 * once); an error drops the session the same way, so the next message starts clean.
 */
import type { ExtensionWebq } from '../extension/page/client';
import type { ChatMessage } from '../extension/shared/messages';
import type { ModelRef, RunResult } from '../extension/shared/types';
import { REGISTRY, registryEntry } from '../extension/models/registry';
import { $, h } from '../extension/ui/dom';
import { formatMs } from '../extension/ui/format';

type Session = Awaited<ReturnType<ExtensionWebq['LanguageModel']['create']>>;

const modelInput = () => $<HTMLInputElement>('[data-webq=chat-model]');
const maxTokensInput = () => $<HTMLInputElement>('[data-webq=chat-max-tokens]');
const temperatureInput = () => $<HTMLInputElement>('[data-webq=chat-temperature]');
const systemInput = () => $<HTMLInputElement>('[data-webq=chat-system]');
const messageInput = () => $<HTMLTextAreaElement>('[data-webq=chat-input]');
const log = () => $<HTMLOListElement>('[data-webq=chat-log]');
const sendButton = () => $<HTMLButtonElement>('[data-webq=chat-send]');
const stopButton = () => $<HTMLButtonElement>('[data-webq=chat-stop]');
const resetButton = () => $<HTMLButtonElement>('[data-webq=chat-reset]');
const bar = () => $<HTMLProgressElement>('[data-webq=chat-progress]');

/** The text-generation ids of the registry, offered in the model field. */
export const CHAT_MODEL_IDS = [...REGISTRY.values()].filter((e) => e.task === 'text-generation').map((e) => e.id);

/** The model field as a ModelRef: a registry id as it is, anything else as a URL run with task text-generation. */
export function chatModelRef(value: string): ModelRef | null {
  const v = value.trim();
  if (!v) return null;
  if (registryEntry(v)) return v;
  return /^https?:\/\//i.test(v) ? { url: v, task: 'text-generation' } : v; // an unknown id: the engine says so
}

function setStatus(text: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  const status = $('[data-webq=chat-status]');
  status.textContent = text;
  status.dataset.kind = kind;
}

/** The session's creation options from the form; empty fields are not sent (the engine's defaults apply). */
function sessionOptions(): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const max = maxTokensInput().value.trim();
  if (max !== '') options.maxNewTokens = Number(max);
  const temperature = temperatureInput().value.trim();
  if (temperature !== '') options.temperature = Number(temperature);
  return options;
}

/** One line of the log: who spoke and what was said. */
function messageItem(role: 'user' | 'assistant', text: string): { item: HTMLLIElement; body: HTMLDivElement } {
  const body = h('div', { 'data-webq': 'chat-text', class: 'chat-text' }, text);
  const item = h(
    'li',
    { 'data-webq': 'chat-message', 'data-role': role, class: `chat-${role}` },
    h('span', { class: 'chat-who' }, role === 'user' ? 'You' : 'Model'),
    body,
  );
  log().append(item);
  return { item, body };
}

/** The reply's figures: tokens, decode rate (performanceMetrics.decodeTokensPerSecond), time to first token. */
function rateLine(result: RunResult): HTMLParagraphElement {
  const m = result.performanceMetrics;
  const output = result.output as { usage: { completionTokens: number }; finishReason: string };
  const rate = m.decodeTokensPerSecond;
  const parts = [
    `${output.usage.completionTokens} tokens`,
    rate !== undefined && Number.isFinite(rate) ? `${rate.toFixed(1)} tokens/s decode` : 'decode rate: one token only',
    m.timeToFirstTokenMs !== undefined ? `first token after ${formatMs(m.timeToFirstTokenMs)}` : null,
    output.finishReason === 'length' ? 'stopped at the token limit' : null,
  ].filter(Boolean);
  const line = h('p', { 'data-webq': 'chat-rate', class: 'chat-rate' }, parts.join(' · '));
  line.dataset.tokens = String(output.usage.completionTokens);
  if (rate !== undefined) line.dataset.decodeTokensPerSecond = String(rate);
  line.dataset.finish = output.finishReason;
  return line;
}

export function wireChat(webq: ExtensionWebq): void {
  let session: Session | null = null;
  let sessionKey = '';
  /** The conversation as shown, carried over when a new session has to start. */
  let history: ChatMessage[] = [];
  let current: AbortController | null = null;

  $('#chat-model-ids').replaceChildren(...CHAT_MODEL_IDS.map((id) => h('option', { value: id })));
  if (!modelInput().value) modelInput().value = CHAT_MODEL_IDS[0] ?? '';

  const setBusy = (busy: boolean) => {
    sendButton().disabled = busy;
    stopButton().disabled = !busy;
    resetButton().disabled = busy;
  };

  const dropSession = () => {
    session?.destroy();
    session = null;
    sessionKey = '';
  };

  /** The session for the form's model and settings: the current one, or a new one carrying the conversation. */
  async function ensureSession(model: ModelRef, signal: AbortSignal): Promise<Session> {
    const options = sessionOptions();
    const system = systemInput().value.trim();
    const key = JSON.stringify([model, options, system]);
    if (session && key === sessionKey) return session;
    dropSession();
    const initialPrompts: ChatMessage[] = [
      ...(system ? [{ role: 'system' as const, content: system }] : []),
      ...history,
    ];
    setStatus('Loading the model…');
    bar().hidden = false;
    bar().removeAttribute('value');
    try {
      session = await webq.LanguageModel.create({
        model,
        initialPrompts,
        ...options,
        signal,
        monitor: (m) =>
          m.addEventListener('downloadprogress', (e) => {
            const loaded = (e as Event & { loaded: number }).loaded;
            bar().value = loaded;
            setStatus(`Downloading the model: ${Math.round(loaded * 100)}%`);
          }),
      });
    } finally {
      bar().hidden = true;
    }
    sessionKey = key;
    return session;
  }

  async function send(): Promise<void> {
    if (current) return;
    const text = messageInput().value.trim();
    if (!text) {
      setStatus('Type a message first.', 'error');
      messageInput().focus();
      return;
    }
    const model = chatModelRef(modelInput().value);
    if (!model) {
      setStatus('Name a model: a registry id such as qwen2.5-0.5b-instruct, or a URL.', 'error');
      modelInput().focus();
      return;
    }
    const controller = new AbortController();
    current = controller;
    setBusy(true);
    const asked = messageItem('user', text);
    messageInput().value = '';
    const reply = messageItem('assistant', '');
    reply.item.setAttribute('aria-busy', 'true');
    let shown = '';
    try {
      const s = await ensureSession(model, controller.signal);
      setStatus('Replying…');
      const stream = s.promptStreaming(text, { signal: controller.signal });
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        shown += value;
        reply.body.textContent = shown;
      }
      const result = await stream.result;
      history.push({ role: 'user', content: text }, { role: 'assistant', content: shown });
      const line = rateLine(result);
      reply.item.append(line);
      reply.item.dataset.finish = (result.output as { finishReason: string }).finishReason;
      setStatus(`Reply done: ${line.textContent}.`, 'ok');
    } catch (err) {
      const e = err as Error;
      if (e.name === 'AbortError' && !session) {
        // Stopped while the model was loading: nothing was asked; the message goes back to the box.
        asked.item.remove();
        reply.item.remove();
        messageInput().value = text;
        setStatus('Stopped before the model was ready.');
      } else if (e.name === 'AbortError') {
        // The engine keeps what it had generated when the stop arrived as this turn's answer; so does the log.
        history.push({ role: 'user', content: text }, { role: 'assistant', content: shown });
        reply.item.dataset.finish = 'abort';
        reply.item.append(h('p', { 'data-webq': 'chat-rate', class: 'chat-rate', 'data-finish': 'abort' }, 'Stopped.'));
        setStatus('Stopped.');
      } else {
        reply.item.dataset.finish = 'error';
        reply.body.textContent = shown;
        reply.item.append(h('p', { 'data-webq': 'chat-error', class: 'chat-error' }, `${e.name}: ${e.message}`));
        setStatus(`Chat failed — ${e.name}: ${e.message}`, 'error');
        // The session may be gone (engine restarted) or half-way: the next message starts a new one from the log.
        dropSession();
      }
    } finally {
      reply.item.removeAttribute('aria-busy');
      current = null;
      setBusy(false);
      messageInput().focus();
    }
  }

  sendButton().addEventListener('click', () => void send());
  stopButton().addEventListener('click', () => current?.abort());
  resetButton().addEventListener('click', () => {
    dropSession();
    history = [];
    log().replaceChildren();
    setStatus('New conversation.');
  });
  // Enter sends, Shift+Enter is a new line (as in most chat boxes).
  messageInput().addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void send();
    }
  });
  // A session holds a KV cache in the engine (at most 16 per origin): give it back when the popup closes.
  addEventListener('pagehide', dropSession);
  setBusy(false);
}
