// Module resolution hooks for `npm run bench` (registered by bench/run.ts with node:module's register()): the
// generated hub models import onnx-proto by name, which Node's ESM loader cannot do for that UMD bundle.
const SHIM = new URL('./onnx-proto-esm.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'onnx-proto' && context.parentURL !== SHIM) return { url: SHIM, shortCircuit: true };
  return next(specifier, context);
}
