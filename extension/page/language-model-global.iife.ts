/**
 * MAIN-world script, registered only while the user has turned on "window.LanguageModel" on the options page
 * (content/language-model-global.ts): on pages where the browser has no Prompt API of its own, `window.LanguageModel`
 * is webq's (SPEC §8), so code written for the Prompt API runs on webq unchanged. A browser's own LanguageModel is
 * never replaced.
 *
 * A getter rather than a value: registered scripts and the manifest's webq.iife.ts both run at document_start, and
 * the order between them is not something to rely on; the getter finds `window.webq` whenever it is first read.
 */
if (!('LanguageModel' in window)) {
  Object.defineProperty(window, 'LanguageModel', {
    get: () => (window as { webq?: { LanguageModel?: unknown } }).webq?.LanguageModel,
    enumerable: false,
    configurable: true,
  });
}
