/**
 * Builds @webq/client (npm run build:client): ESM entries `index.js` and `language-model.js`, the in-page engine in
 * chunks of its own (reached only through the client's dynamic import), onnxruntime-web's .wasm as an asset. Asset
 * and worker URLs are written as `new URL('…', import.meta.url)` (relative base), the form an author's bundler (Vite,
 * webpack 5, Rollup) recognises and copies into the site's build. The manifest lets scripts/client-sizes.mjs tell the
 * client's own bytes from the engine's.
 */
import { defineConfig } from 'vite';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(resolve(here, 'package.json'), 'utf8')) as { version: string };

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  define: { __WEBQ_VERSION__: JSON.stringify(pkg.version) },
  build: {
    outDir: resolve(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    manifest: true,
    modulePreload: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 30_000,
    rollupOptions: {
      input: { index: resolve(here, 'src/index.ts'), 'language-model': resolve(here, 'src/language-model.ts') },
      preserveEntrySignatures: 'strict',
      output: {
        format: 'es',
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
        // onnxruntime-web apart, as in the extension: its pthread workers (cross-origin isolated pages) re-import the
        // module holding the wasm glue.
        manualChunks: (id: string) => (id.includes('/node_modules/onnxruntime-web/') ? 'ort' : undefined),
      },
    },
  },
});
