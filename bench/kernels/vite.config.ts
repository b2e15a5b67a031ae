// Builds the kernel benchmark page (bench/kernels.mjs runs it in Chromium). Output: bench/kernels/dist (git-ignored).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', minify: false, sourcemap: false },
});
