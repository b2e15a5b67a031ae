// onnx-proto as an ES module with its named export. The package is a UMD bundle: Node's ESM loader finds no named
// exports in it, so `import { onnx } from 'onnx-proto'` (extension/onnx, tools/hub-models) fails under plain
// tsx. bench/lib/esm-hooks.mjs points that import here when bench/run.ts runs from the command line; Vite and Vitest
// do this interop themselves.
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('onnx-proto');
export const onnx = pkg.onnx;
export default pkg;
