/**
 * What to do about a backend a browser does not offer: the flag or pref, per browser (docs/troubleshooting.md
 * has the longer version, per OS). The reason itself always comes from the browser, via webq.capabilities().
 * And what to do when a registry id's files cannot be fetched from the model host.
 */
import { DEFAULT_MODEL_HOST } from '../extension/models/model-host';
import type { ModelSpec, Platform } from './args';

export function hintFor(browser: string, platform: Platform): string {
  if (platform === 'webgpu') {
    if (browser === 'firefox')
      return 'Firefox: set dom.webgpu.enabled (and gfx.webgpu.ignore-blocklist for software adapters such as lavapipe) in about:config; on Linux install mesa-vulkan-drivers';
    return 'Chrome/Edge: on Linux start with --enable-unsafe-webgpu --enable-features=Vulkan and have a Vulkan driver (mesa-vulkan-drivers); check chrome://gpu';
  }
  if (platform === 'webnn') {
    if (browser === 'firefox') return 'Firefox has no WebNN; use Chrome/Edge for webnn';
    if (browser === 'chrome-harness')
      return '@sparticuz/chromium should have WebNN (TFLite/XNNPACK): see docs/webnn.md';
    return "Chrome/Edge: WebNN needs --enable-features=WebMachineLearningNeuralNetwork (given here) and a build with a WebNN backend (Windows, macOS, ChromeOS; Debian's Chromium has none); --webnn-harness runs it in @sparticuz/chromium instead";
  }
  return '';
}

/**
 * A registry id whose download failed (NetworkError: unreachable, refused, an HTTP error; NotFoundError: a 404):
 * where the files were looked for, and how to point the extension elsewhere. Empty for anything else.
 */
export function hintForFailure(
  browser: string,
  error: { name: string },
  model: ModelSpec,
  modelHost: string | undefined,
): string {
  if (model.kind !== 'id' || (error.name !== 'NetworkError' && error.name !== 'NotFoundError')) return '';
  if (browser === 'chrome-harness')
    return `the harness page has no options page: it fetches registry ids from ${DEFAULT_MODEL_HOST} only`;
  if (!modelHost) {
    return (
      `registry ids download from ${DEFAULT_MODEL_HOST}, the extension's default model host: offline or behind a firewall, ` +
      `pass --model-host URL, a mirror with the hub's layout (URL/${model.repo}/resolve/main/FILE)`
    );
  }
  return `--model-host ${modelHost} was set on the options page: it must serve ${model.repo}'s files as ${modelHost}/${model.repo}/resolve/main/FILE (the hub's layout)`;
}
