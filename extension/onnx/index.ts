/** Public surface of the ONNX side: parse/serialize, rewrite to a precision policy, report weights. */
export { parseModel, serializeModel } from './model';
export { DEFAULT_POLICY, makePolicy, requestedPrecision, type Precision, type PrecisionPolicy } from './policy';
export { reportWeights, type ModelReport, type WeightFormat, type WeightReport } from './report';
export { rewriteModel, type RewriteNote, type RewriteResult } from './rewrite';
export type { WeightRole } from './roles';
