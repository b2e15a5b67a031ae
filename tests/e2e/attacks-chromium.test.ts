/**
 * The attack suite (attack-suite.ts) in Chromium with the built extension, and a page on a public-looking name
 * (mapped to this machine by the resolver) that must not reach loopback through webq even where CORS would allow it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchChromium, openWithConsent, type ChromiumWithExtension } from '../../tools/browsers';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { identityModel } from '../support/onnx-models';
import { attackSuite } from './attack-suite';

let chromium: ChromiumWithExtension;
let server: TestServer;
let page: Page;
const PUBLIC_NAME = 'attacker.test';

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE(), '/public/identity.onnx': identityModel('float32') });
  chromium = await launchChromium({ extraArgs: [`--host-resolver-rules=MAP ${PUBLIC_NAME} 127.0.0.1`] });
  page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

attackSuite(() => ({
  page,
  server,
  otherOrigin: () => openWithConsent(chromium.context, `${server.origin.replace('127.0.0.1', 'localhost')}/page.html`),
}));

describe('a page that is not on loopback (Chromium: a public name mapped to this machine)', () => {
  it('cannot reach loopback through webq, even a CORS-open file; its own origin works', async () => {
    const publicOrigin = server.origin.replace('127.0.0.1', PUBLIC_NAME);
    const attacker = await openWithConsent(chromium.context, `${publicOrigin}/page.html`);
    const run = (url: string) =>
      attacker.evaluate(async (u) => {
        const input = { x: { type: 'float32', data: new Float32Array([4, 5]), dims: [2] } };
        try {
          const r = await (window as any).webq.run(u, input);
          return { ok: true, y: Array.from(r.output.y.data as Float32Array) };
        } catch (e) {
          return { ok: false, name: (e as Error).name, message: (e as Error).message };
        }
      }, url);
    // The test server answers every origin with Access-Control-Allow-Origin: *, so only the host rule refuses these.
    for (const url of [
      `${server.origin}/public/identity.onnx`,
      `${server.origin.replace('127.0.0.1', 'localhost')}/public/identity.onnx`,
    ]) {
      expect(await run(url), url).toMatchObject({
        ok: false,
        name: 'NotAllowedError',
        message: expect.stringMatching(/local or private network/),
      });
    }
    expect(await run(`${publicOrigin}/public/identity.onnx`)).toEqual({ ok: true, y: [4, 5] });
    await attacker.close();
  });
});
