/**
 * The bridge's MessageChannel to the engine host (shared/channel-port.ts), in either browser: Chrome's direct port,
 * Firefox's page port. The channel's frame comes and goes once and results are right on it; a page whose CSP forbids
 * frames still gets it; a page that removes every frame keeps its runtime port and is served.
 */
import { describe, expect, it } from 'vitest';
import { BLANK_PAGE, type TestServer } from '../../tools/server';
import type { PageLike } from './webq-suite';

export interface ChannelContext {
  server: TestServer;
  /** A new tab at `url`, of an origin the page-API suite has been allowed (consent given). */
  open(url: string): Promise<PageLike & { close(): Promise<void> }>;
}

/** In `p`: calls, frames of the extension added and removed meanwhile, and whether each call's result was right. */
const callsWatchingFrames = (p: PageLike, calls: number, base: string) =>
  p.evaluate(
    async ({ calls, base }) => {
      const webq = (window as any).webq;
      const frames = { added: 0, removed: 0 };
      const isChannelFrame = (n: Node) => n instanceof HTMLIFrameElement && n.src.includes('/channel-frame.html');
      new MutationObserver((records) => {
        for (const r of records) {
          frames.added += [...r.addedNodes].filter(isChannelFrame).length;
          frames.removed += [...r.removedNodes].filter(isChannelFrame).length;
        }
      }).observe(document.documentElement, { childList: true, subtree: true });
      const results: string[] = [];
      for (let i = 0; i < calls; i++) {
        const data = Float32Array.from({ length: 300_000 }, (_, j) => j + i); // 1.2 MB: a Blob on a runtime port
        const res = await webq.run(
          `${base}/models/identity_float32.onnx`,
          { x: { type: 'float32', data, dims: [data.length] } },
          { backend: 'wasm' },
        );
        const y = res.output.y.data as Float32Array;
        results.push(y.length === data.length && y[123_456] === 123_456 + i ? 'ok' : 'wrong');
        await new Promise((r) => setTimeout(r, 100));
      }
      const deadline = performance.now() + 5000;
      while (frames.removed < frames.added && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return { results, frames, framesLeft: window.frames.length };
    },
    { calls, base },
  );

export function channelSuite(context: () => ChannelContext): void {
  describe("the bridge's MessageChannel to the engine host (Chrome's direct port, Firefox's page port)", () => {
    it('moves the calls onto a MessageChannel: its frame comes and goes once, results are right', async () => {
      const { server, open } = context();
      const p = await open(`${server.origin}/page.html?channel`);
      const { results, frames, framesLeft } = await callsWatchingFrames(p, 12, server.origin);
      expect(results).toEqual(Array(12).fill('ok'));
      // The frame is removed only when the bridge has switched to the channel (content/channel.ts); else after 10 s.
      expect(frames).toEqual({ added: 1, removed: 1 });
      expect(framesLeft).toBe(0);
      await p.close();
    });

    it("gets its channel on a page whose policy forbids frames (the frame is the extension's)", async () => {
      const { server, open } = context();
      server.routes.set('/no-frames.html', () => ({
        ...BLANK_PAGE('no frames')(),
        headers: { 'content-security-policy': "frame-src 'none'" },
      }));
      const p = await open(`${server.origin}/no-frames.html`);
      const { results, frames } = await callsWatchingFrames(p, 6, server.origin);
      expect(results).toEqual(Array(6).fill('ok'));
      expect(frames).toEqual({ added: 1, removed: 1 });
      await p.close();
    });

    it('keeps serving, on the runtime port, a page that removes every frame as soon as it appears', async () => {
      const { server, open } = context();
      const p = await open(`${server.origin}/page.html?frame-killer`);
      await p.evaluate(
        () =>
          new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes) if (n instanceof HTMLIFrameElement) n.remove();
          }).observe(document.documentElement, { childList: true, subtree: true }),
        undefined,
      );
      const { results, frames } = await callsWatchingFrames(p, 6, server.origin);
      expect(results).toEqual(Array(6).fill('ok'));
      expect(frames.added).toBe(1);
      await p.close();
    });
  });
}
