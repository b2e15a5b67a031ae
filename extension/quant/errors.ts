/**
 * Errors of the quantizer and rewriter. SPEC §2: bad input rejects with an Error named 'DataError'
 * whose message names the wrong field, so the page author can fix the call.
 */
export function dataError(field: string, problem: string): Error {
  const error = new Error(`${field}: ${problem}`);
  error.name = 'DataError';
  return error;
}

export function notSupportedError(message: string): Error {
  const error = new Error(message);
  error.name = 'NotSupportedError';
  return error;
}
