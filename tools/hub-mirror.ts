/**
 * A local mirror of the model host: repos served under `{prefix}/{repo}/resolve/{revision}/{file}` (`main`, or the
 * commit a pinned registry entry names), the Hugging Face hub's layout, from the generated hub models in
 * tools/hub-models. The options page's model host setting pointed at `{origin}{prefix}` makes registry ids
 * download from here.
 */
import type { TestServer } from './server';

/** A model repo as files: name → bytes or text (what the generated hub models produce and the mirror serves). */
export type HubFiles = Record<string, Uint8Array | string>;

export function mirrorRepo(server: TestServer, prefix: string, repo: string, files: HubFiles, revision = 'main'): void {
  for (const [path, contents] of Object.entries(files)) {
    server.routes.set(
      `${prefix}/${repo}/resolve/${revision}/${path}`,
      typeof contents === 'string' ? new TextEncoder().encode(contents) : contents,
    );
  }
}

/** Requests the mirror answered for `repo` so far (to prove a cached load touched no network). */
export function mirrorHits(server: TestServer, prefix: string, repo: string): number {
  let n = 0;
  for (const [path, count] of server.hits) if (path.startsWith(`${prefix}/${repo}/`)) n += count;
  return n;
}
