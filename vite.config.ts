/**
 * One config, three builds (`--mode`):
 *   chrome   → dist/chrome   MV3 service worker (router, consent) + offscreen document (engine host)
 *   firefox  → dist/firefox  MV3 background page that is router and engine host (Firefox has no offscreen API)
 *   harness  → dist/harness  the engine host in a plain page, for browsers that cannot load extensions
 *                            (@sparticuz/chromium, where WebNN works) — see tests/harness/
 */
import { defineConfig, type UserConfig } from 'vite';
import { crx, type ManifestV3Export } from '@crxjs/vite-plugin';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const base = JSON.parse(readFileSync('manifest.json', 'utf8')) as Record<string, unknown>;

function firefoxManifest(): Record<string, unknown> {
  const { background: _bg, minimum_chrome_version: _min, message_serialization: _ser, ...rest } = base;
  return {
    ...rest,
    permissions: (base.permissions as string[]).filter((p) => p !== 'offscreen'),
    background: { scripts: ['extension/background/firefox.ts'], type: 'module' },
    browser_specific_settings: {
      gecko: { id: 'webq@webq.dev', strict_min_version: '128.0', data_collection_permissions: { required: ['none'] } },
    },
  };
}

export default defineConfig(({ mode }): UserConfig => {
  // __WEBQ_BROWSER__: which extension build this is, for the few places the two differ in a page's own scripts.
  const define = { __WEBQ_VERSION__: JSON.stringify(pkg.version), __WEBQ_BROWSER__: JSON.stringify(mode) };
  if (mode === 'harness') {
    return {
      define,
      root: resolve('tests/harness'),
      base: './',
      build: {
        outDir: resolve('dist/harness'),
        emptyOutDir: true,
        target: 'es2022',
        rollupOptions: { input: resolve('tests/harness/index.html') },
      },
    };
  }
  if (mode !== 'chrome' && mode !== 'firefox')
    throw new Error(`vite --mode must be chrome, firefox or harness, not ${mode}`);
  const manifest = (mode === 'firefox'
    ? firefoxManifest()
    : { ...base, version: pkg.version }) as unknown as ManifestV3Export;
  const pages: Record<string, string> = {
    prompt: resolve('extension/prompt/prompt.html'),
    channel: resolve('extension/content/channel-frame.html'),
  };
  if (mode === 'chrome') pages.offscreen = resolve('extension/host/offscreen.html');
  return {
    define,
    plugins: [crx({ manifest, browser: mode })],
    build: {
      outDir: resolve(`dist/${mode}`),
      emptyOutDir: true,
      target: 'es2022',
      rollupOptions: {
        input: pages,
        // onnxruntime-web in a chunk of its own: its pthread workers re-import the module that holds the wasm glue, and
        // that module must not also start an engine host.
        output: { manualChunks: (id: string) => (id.includes('/node_modules/onnxruntime-web/') ? 'ort' : undefined) },
      },
      chunkSizeWarningLimit: 30_000,
    },
  };
});
