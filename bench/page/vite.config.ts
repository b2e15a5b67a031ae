// Builds the benchmark page (bench/run.ts serves it): the driver that times window.webq, and the plain
// onnxruntime-web/webgpu baseline it is compared with. Output: bench/page/dist (git-ignored).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  define: { __WEBQ_VERSION__: JSON.stringify('bench') },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: false,
    chunkSizeWarningLimit: 30_000,
  },
});
