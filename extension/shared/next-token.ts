/**
 * The names of the greedy next-token head webq adds to text-generation graphs (extension/onnx/next-token.ts), shared
 * with the decode loop, which feeds the limit and reads the token where a graph has them.
 */
export const VOCAB_LIMIT_INPUT = 'webq_vocab_limit';
export const NEXT_TOKEN_OUTPUT = 'webq_next_token';

/** Whether a graph's inputs and outputs carry the head. */
export function hasNextToken(io: { inputs: { name: string }[]; outputs: { name: string }[] }): boolean {
  return io.inputs.some((i) => i.name === VOCAB_LIMIT_INPUT) && io.outputs.some((o) => o.name === NEXT_TOKEN_OUTPUT);
}
