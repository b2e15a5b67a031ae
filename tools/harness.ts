/**
 * The engine harness (tests/harness, built by `npx vite build --mode harness` into dist/harness) in
 * @sparticuz/chromium: a Chromium 153 headless_shell whose WebNN backend works (TFLite/XNNPACK) but which cannot
 * load extensions (shared/TESTING.md). The harness page hosts the engine itself and defines `window.webq`.
 */
import { chromium, type Browser } from 'playwright-core';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Route } from './server';

export const DIST_HARNESS = resolve('dist/harness');

/** Every file of dist/harness as a route (`/index.html` also at `/`), the .wasm under /assets included. */
export function harnessRoutes(dir = DIST_HARNESS): Record<string, Route> {
  if (!existsSync(join(dir, 'index.html')))
    throw new Error(`${dir} is missing: run \`npx vite build --mode harness\` first`);
  const routes: Record<string, Route> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else routes[`/${relative(dir, path).split(sep).join('/')}`] = path;
    }
  };
  walk(dir);
  routes['/'] = join(dir, 'index.html');
  return routes;
}

/** The package's own args, with WebNN merged into its single --enable-features=… and WebGPU unlocked. */
export function sparticuzArgs(
  packageArgs: readonly string[],
  features = ['WebMachineLearningNeuralNetwork'],
): string[] {
  const args = packageArgs.filter((a) => !a.startsWith('--headless'));
  const at = args.findIndex((a) => a.startsWith('--enable-features='));
  if (at >= 0) {
    const have = args[at]!.slice('--enable-features='.length).split(',').filter(Boolean);
    args[at] = `--enable-features=${[...new Set([...have, ...features])].join(',')}`;
  } else {
    args.push(`--enable-features=${features.join(',')}`);
  }
  return [...args, '--enable-unsafe-webgpu'];
}

/**
 * Launches @sparticuz/chromium. Throws (never skips) with what went wrong when the binary cannot be unpacked
 * or started on this machine.
 */
export async function launchSparticuz(): Promise<{ browser: Browser; executablePath: string; args: string[] }> {
  let executablePath: string;
  let packageArgs: string[];
  try {
    const pkg = (await import('@sparticuz/chromium')).default;
    executablePath = await pkg.executablePath();
    packageArgs = pkg.args;
  } catch (err) {
    throw new Error(
      `@sparticuz/chromium could not be unpacked (npm install it; it ships the binary): ${(err as Error).message}`,
    );
  }
  const args = sparticuzArgs(packageArgs);
  try {
    const browser = await chromium.launch({ executablePath, headless: true, args, timeout: 60_000 });
    return { browser, executablePath, args };
  } catch (err) {
    throw new Error(
      `@sparticuz/chromium (${executablePath}) did not start on this machine, so WebNN cannot be tested here: ${(err as Error).message}`,
    );
  }
}

/** Where ORT put each node, parsed from its verbose session log (the harness page with `?log=verbose`). */
export interface Placement {
  nodes: number;
  ops: Record<string, number>;
}

export function nodePlacements(consoleLines: readonly string[]): Record<string, Placement> {
  const out: Record<string, Placement> = {};
  let current: Placement | null = null;
  for (const line of consoleLines) {
    if (!line.includes('VerifyEachNodeIsAssignedToAnEp]')) {
      current = null;
      continue;
    }
    const text = line.slice(line.indexOf('VerifyEachNodeIsAssignedToAnEp]') + 'VerifyEachNodeIsAssignedToAnEp]'.length);
    const head = text.match(/placed on \[(\w+)\]\. Number of nodes: (\d+)/);
    if (head) {
      current = out[head[1]!] ??= { nodes: 0, ops: {} };
      current.nodes += Number(head[2]);
      continue;
    }
    const node = text.match(/^\s+(\S+) \(/);
    if (node && current) current.ops[node[1]!] = (current.ops[node[1]!] ?? 0) + 1;
  }
  return out;
}
