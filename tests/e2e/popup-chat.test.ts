/**
 * The popup's chat tab in Chromium with the built extension, on the two registry LLM ids served from a local mirror
 * of the model host (the generated Llama- and Qwen2-shaped models of tests/support/hub-models/, real tokenizers and
 * chat templates): a reply streams into the log in several steps and equals a page's `webq.run` of the same
 * conversation (greedy), a second message continues the conversation, the decode rate is shown; Stop cuts a long
 * reply short and the next message is answered; an error (a model that is not a text-generation model) is shown and
 * the chat goes on. Screenshots go to test-output/ui/.
 *
 * Needs `npx vite build --mode chrome` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { launchChromium, openWithConsent, saveModelHost, type ChromiumWithExtension } from '../../tools/browsers';
import { mirrorRepo } from '../../tools/hub-mirror';
import { bertHubFiles } from '../../tools/hub-models/bert';
import { llamaHubFiles } from '../../tools/hub-models/llama';
import { qwen2HubFiles } from '../../tools/hub-models/qwen2';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';

const SHOTS = 'test-output/ui';
const LONG_CONTEXT = 2048;
const LONG_REPLY = 800;
const PREFIX = '/hub';

let server: TestServer;
let chromium: ChromiumWithExtension;
let popup: Page;
/** A consented web page: the reference `webq.run` calls are made from it, as any page would make them. */
let page: Page;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ '/page.html': BLANK_PAGE() });
  mirrorRepo(server, PREFIX, 'onnx-community/Qwen2.5-0.5B-Instruct', qwen2HubFiles());
  // A long context, so that the Stop test's reply lasts seconds (240 tokens of this model took under one).
  mirrorRepo(server, PREFIX, 'onnx-community/Llama-3.2-1B-Instruct', llamaHubFiles({ maxPositions: LONG_CONTEXT }));
  mirrorRepo(server, PREFIX, 'Xenova/bert-base-uncased', bertHubFiles());
  chromium = await launchChromium();
  const options = await chromium.context.newPage();
  await options.goto(`chrome-extension://${chromium.extensionId}/options/options.html`);
  await saveModelHost(options, `${server.origin}${PREFIX}`);
  await options.close();
  page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
  popup = await chromium.context.newPage();
  await popup.setViewportSize({ width: 800, height: 600 });
  await popup.goto(`chrome-extension://${chromium.extensionId}/popup/popup.html`);
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

type Message = { role: string; content: string };

/** A page's one-shot `webq.run` of a conversation: the text the session should have answered with. */
async function runText(model: string, messages: Message[], maxNewTokens: number): Promise<string> {
  const r = await page.evaluate(
    ({ model, messages, maxNewTokens }) =>
      (window as any).webq.run(model, { messages }, { maxNewTokens }).then(
        (r: any) => ({ ok: true, text: r.output.text as string }),
        (e: Error) => ({ ok: false, text: `${e.name}: ${e.message}` }),
      ),
    { model, messages, maxNewTokens },
  );
  if (!r.ok) throw new Error(`webq.run failed: ${r.text}`);
  return r.text;
}

/** The log's assistant replies. */
const replies = () => popup.locator('[data-webq=chat-message][data-role=assistant]');

/**
 * Sends `text` and waits until the reply has ended (its figures or Stopped shown, or an error). Records every text
 * the reply showed on its way (a MutationObserver in the popup), so a test can see it stream in.
 */
async function send(text: string): Promise<{ shown: string[] }> {
  const before = await replies().count();
  await popup.evaluate(() => {
    const w = window as unknown as { webqShown: string[] };
    w.webqShown = [];
    const log = document.querySelector('[data-webq=chat-log]')!;
    new MutationObserver(() => {
      const all = log.querySelectorAll('[data-role=assistant] [data-webq=chat-text]');
      const last = all[all.length - 1]?.textContent ?? '';
      if (last && w.webqShown.at(-1) !== last) w.webqShown.push(last);
    }).observe(log, { subtree: true, childList: true, characterData: true });
  });
  await popup.fill('[data-webq=chat-input]', text);
  await popup.click('[data-webq=chat-send]');
  await expect.poll(() => replies().count(), { timeout: 10_000 }).toBe(before + 1);
  const reply = replies().nth(before);
  await expect.poll(() => reply.getAttribute('data-finish'), { timeout: 120_000 }).not.toBeNull();
  return { shown: await popup.evaluate(() => (window as unknown as { webqShown: string[] }).webqShown) };
}

describe('popup chat tab (Chromium)', () => {
  it('the Chat tab shows the chat and hides the models view; the LLM ids are offered', async () => {
    expect(await popup.isVisible('[data-webq=panel-chat]')).toBe(false);
    await popup.click('[data-webq=tab-chat]');
    expect(await popup.isVisible('[data-webq=panel-chat]')).toBe(true);
    expect(await popup.isVisible('[data-webq=panel-models]')).toBe(false);
    expect(await popup.getAttribute('[data-webq=tab-chat]', 'aria-selected')).toBe('true');
    const ids = await popup
      .locator('#chat-model-ids option')
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(ids).toEqual(['qwen2.5-0.5b-instruct', 'llama-3.2-1b-instruct']);
    expect(await popup.inputValue('[data-webq=chat-model]')).toBe('qwen2.5-0.5b-instruct');
  });

  it('streams a reply equal to webq.run of the same conversation, shows tokens/s, and continues the conversation', async () => {
    await popup.fill('[data-webq=chat-model]', 'qwen2.5-0.5b-instruct');
    await popup.fill('[data-webq=chat-max-tokens]', '8');
    await popup.fill('[data-webq=chat-temperature]', '0');
    const first = await send('Name a colour.');
    const reply1 = replies().nth(0);
    expect(await reply1.getAttribute('data-finish')).toBe('length');
    const text1 = (await reply1.locator('[data-webq=chat-text]').textContent()) ?? '';
    expect(first.shown.length).toBeGreaterThan(1); // it grew in several steps, as deltas arrived
    expect(first.shown.at(-1)).toBe(text1);
    expect(first.shown.every((s, i) => i === 0 || s.startsWith(first.shown[i - 1]!))).toBe(true);
    const conversation = [{ role: 'user', content: 'Name a colour.' }];
    expect(text1).toBe(await runText('qwen2.5-0.5b-instruct', conversation, 8));
    const rate = reply1.locator('[data-webq=chat-rate]');
    expect(await rate.getAttribute('data-tokens')).toBe('8');
    expect(Number(await rate.getAttribute('data-decode-tokens-per-second'))).toBeGreaterThan(0);
    expect(await rate.textContent()).toMatch(/^8 tokens · \d+(\.\d)? tokens\/s decode · first token after /);
    expect(await popup.getAttribute('[data-webq=chat-status]', 'data-kind')).toBe('ok');

    // The session goes on: the second answer is what a one-shot run of the whole conversation gives.
    await send('And another?');
    const text2 = (await replies().nth(1).locator('[data-webq=chat-text]').textContent()) ?? '';
    conversation.push({ role: 'assistant', content: text1 }, { role: 'user', content: 'And another?' });
    expect(text2).toBe(await runText('qwen2.5-0.5b-instruct', conversation, 8));
    await popup.screenshot({ path: `${SHOTS}/popup-chat.png`, fullPage: true });
  });

  it('Stop cuts a long reply short (a prefix of the full answer) and the next message is answered', async () => {
    await popup.click('[data-webq=chat-reset]');
    expect(await replies().count()).toBe(0);
    await popup.fill('[data-webq=chat-model]', 'llama-3.2-1b-instruct');
    await popup.fill('[data-webq=chat-max-tokens]', String(LONG_REPLY));
    await popup.fill('[data-webq=chat-input]', 'Tell me a long story.');
    await popup.click('[data-webq=chat-send]');
    const text = replies().nth(0).locator('[data-webq=chat-text]');
    await expect.poll(async () => ((await text.textContent()) ?? '').length, { timeout: 120_000 }).toBeGreaterThan(0);
    await popup.click('[data-webq=chat-stop]', { timeout: 5_000 });
    await expect.poll(() => replies().nth(0).getAttribute('data-finish'), { timeout: 10_000 }).toBe('abort');
    expect(await popup.textContent('[data-webq=chat-status]')).toBe('Stopped.');
    expect(await popup.isDisabled('[data-webq=chat-stop]')).toBe(true);
    expect(await popup.isEnabled('[data-webq=chat-send]')).toBe(true);
    const partial = (await text.textContent()) ?? '';
    const full = await runText(
      'llama-3.2-1b-instruct',
      [{ role: 'user', content: 'Tell me a long story.' }],
      LONG_REPLY,
    );
    expect(full.startsWith(partial)).toBe(true);
    expect(partial.length).toBeLessThan(full.length);
    await popup.screenshot({ path: `${SHOTS}/popup-chat-stopped.png`, fullPage: true });

    await popup.fill('[data-webq=chat-max-tokens]', '4');
    await send('Shorter, please.');
    expect(await replies().nth(1).getAttribute('data-finish')).toBe('length');
    expect(await replies().nth(1).locator('[data-webq=chat-rate]').getAttribute('data-tokens')).toBe('4');
  });

  it('an error is shown in the log and the status line, and the chat goes on', async () => {
    await popup.click('[data-webq=chat-reset]');
    await popup.fill('[data-webq=chat-model]', 'bert-base-uncased');
    await send('Hello?');
    const failed = replies().nth(0);
    expect(await failed.getAttribute('data-finish')).toBe('error');
    expect(await failed.locator('[data-webq=chat-error]').textContent()).toMatch(/^DataError: .*text-generation/);
    expect(await popup.getAttribute('[data-webq=chat-status]', 'data-kind')).toBe('error');
    expect(await popup.textContent('[data-webq=chat-status]')).toMatch(/^Chat failed — DataError: /);
    await popup.screenshot({ path: `${SHOTS}/popup-chat-error.png`, fullPage: true });

    await popup.fill('[data-webq=chat-model]', 'qwen2.5-0.5b-instruct');
    await send('Hello?');
    expect(await replies().nth(1).getAttribute('data-finish')).toBe('length');
    expect(await popup.getAttribute('[data-webq=chat-status]', 'data-kind')).toBe('ok');
  });
});
