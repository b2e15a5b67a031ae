/**
 * What to do about a backend a browser does not offer: the flag or pref, per browser (docs/troubleshooting.md
 * has the longer version, per OS). The reason itself always comes from the browser, via webq.capabilities().
 */
import type { Platform } from './args';

export function hintFor(browser: string, platform: Platform): string {
  if (platform === 'webgpu') {
    if (browser === 'firefox') return 'Firefox: set dom.webgpu.enabled (and gfx.webgpu.ignore-blocklist for software adapters such as lavapipe) in about:config; on Linux install mesa-vulkan-drivers';
    return 'Chrome/Edge: on Linux start with --enable-unsafe-webgpu --enable-features=Vulkan and have a Vulkan driver (mesa-vulkan-drivers); check chrome://gpu';
  }
  if (platform === 'webnn') {
    if (browser === 'firefox') return 'Firefox has no WebNN; use Chrome/Edge for webnn';
    if (browser === 'chrome-harness') return '@sparticuz/chromium should have WebNN (TFLite/XNNPACK): see docs/webnn.md';
    return 'Chrome/Edge: WebNN needs --enable-features=WebMachineLearningNeuralNetwork (given here) and a build with a WebNN backend (Windows, macOS, ChromeOS; Debian\'s Chromium has none); --webnn-harness runs it in @sparticuz/chromium instead';
  }
  return '';
}
