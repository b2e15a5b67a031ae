/** Reading a task model's companion JSON files (ModelFiles) as objects, with the errors every pipeline gives. */
import { WebqError } from '../shared/errors';
import type { ModelFiles } from './types';

/** ModelFiles gives NotFoundError for a missing required file; a file that is there but unreadable is bad data. */
export async function readObject(files: ModelFiles, name: string, required: true): Promise<Record<string, unknown>>;
export async function readObject(
  files: ModelFiles,
  name: string,
  required: false,
): Promise<Record<string, unknown> | undefined>;
export async function readObject(
  files: ModelFiles,
  name: string,
  required: boolean,
): Promise<Record<string, unknown> | undefined> {
  let value: unknown;
  try {
    value = required ? await files.json(name) : await files.optionalJson(name);
  } catch (err) {
    if (err instanceof WebqError) throw err;
    throw new WebqError(
      'DataError',
      `the model's ${name} is not valid JSON: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
    );
  }
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WebqError('DataError', `the model's ${name} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}
