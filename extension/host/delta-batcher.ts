/**
 * Streamed text to the page in fewer messages (issue 15: "tokens may be batched per message when faster"). Each
 * message from the engine host wakes the browser's IPC, the tab's content script and the page, on the same cores
 * that run the decode: with a message per token, a streamed Llama (bench build, wasm, 2 threads) decoded 85 tokens/s
 * by `run` and 72 by `stream`; with at most one message per 64 ms, 92 and 90 (`npx tsx bench/generation-messaging.ts
 * --shape bench`; docs/generation.md, with probes of 32 and 100 ms). So a delta goes out at once when the last one
 * left at least `intervalMs` ago (the first one always), and otherwise waits, joined with those after it, until that
 * much time has passed. The page gets the same text in fewer, longer pieces, at most one per interval; the time to
 * the first token does not change.
 */

/** Four display frames at 60 Hz: text still flows, in pieces of a few tokens at the speeds of today's devices. */
export const STREAM_INTERVAL_MS = 64;

export class DeltaBatcher {
  private held = '';
  private sentAt = -Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (text: string) => void,
    private readonly intervalMs = STREAM_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(text: string): void {
    if (!text) return;
    this.held += text;
    const wait = this.sentAt + this.intervalMs - this.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait);
  }

  /** Sends what is held now (before the request's last message, which must come after every delta). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.held) return;
    const text = this.held;
    this.held = '';
    this.sentAt = this.now();
    this.send(text);
  }
}
