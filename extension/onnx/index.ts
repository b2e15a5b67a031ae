/** Public surface of the ONNX side: parse/serialize, rewrite to a precision policy, report weights. */
export { parseModel, serializeModel } from './model.ts';
export { DEFAULT_POLICY, makePolicy, requestedPrecision, type Precision, type PrecisionPolicy } from './policy.ts';
export { reportWeights, type ModelReport, type WeightFormat, type WeightReport } from './report.ts';
export { rewriteModel, type RewriteNote, type RewriteResult } from './rewrite.ts';
export type { WeightRole } from './roles.ts';
