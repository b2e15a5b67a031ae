/**
 * @webq/client as a site author ships it: `npm pack` of packages/client installed (offline, from the tarball) into a
 * fresh app in a temp directory and built with Vite. The page defines `window.client` (a client made with the
 * `?hub=` model host, if given), `window.nativeLanguageModel` (the browser's own Prompt API, or null) and
 * `window.siteLanguageModel` (what `polyfillLanguageModel` left in place), then sets its title to 'site ready'.
 * Used by tests/e2e/client.test.ts and tests/e2e/page-host-suites.test.ts; needs packages/client/dist
 * (`npm run build` or `npm run build:client`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';

export const CLIENT_PACKAGE_DIR = resolve('packages/client');

/** The title the app's page sets once its module ran (`window.client` defined). */
export const CLIENT_APP_READY = 'site ready';

export interface ClientApp {
  /** The app's directory (its package.json and node_modules/@webq/client). */
  dir: string;
  /** Vite's build of it: serve this directory at / (harnessRoutes(dist) does). */
  dist: string;
  /** Removes the app's directory. */
  cleanup(): void;
}

/** The packed tarball installed into a new app, the app built by Vite. */
export async function buildClientApp(): Promise<ClientApp> {
  if (!existsSync(join(CLIENT_PACKAGE_DIR, 'dist/index.js')) || !existsSync(join(CLIENT_PACKAGE_DIR, 'dist/types')))
    throw new Error('packages/client/dist is missing: run `npm run build` (or `npm run build:client`) first');
  const dir = mkdtempSync(join(tmpdir(), 'webq-client-app-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: CLIENT_PACKAGE_DIR })
      .toString()
      .trim()
      .split('\n')
      .pop()!;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'site', private: true, type: 'module' }));
    // No network here (nor in CI): the package has no dependencies, so npm installs it from the tarball alone.
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', `./${packed}`], {
      cwd: dir,
      stdio: 'pipe',
    });
    writeFileSync(
      join(dir, 'index.html'),
      '<!doctype html><html><head><meta charset="utf-8"><title>site</title></head>' +
        '<body><script type="module" src="./main.js"></script></body></html>',
    );
    // The README's example, as an author writes it.
    writeFileSync(
      join(dir, 'main.js'),
      [
        "import { createWebqClient } from '@webq/client';",
        "import { polyfillLanguageModel } from '@webq/client/language-model';",
        "const hub = new URLSearchParams(location.search).get('hub');",
        'const client = createWebqClient(hub ? { modelHost: hub } : {});',
        'window.client = client;',
        // A browser's own Prompt API (Chromium has one) is left in place; webq's is installed where there is none.
        'window.nativeLanguageModel = globalThis.LanguageModel ?? null;',
        'window.siteLanguageModel = polyfillLanguageModel(client.LanguageModel);',
        `document.title = ${JSON.stringify(CLIENT_APP_READY)};`,
      ].join('\n'),
    );
    // Vite from this repo's node_modules, run on the app's own root: '@webq/client' resolves from the app's
    // node_modules.
    await build({ root: dir, configFile: false, logLevel: 'warn', build: { outDir: join(dir, 'dist') } });
    const installed = JSON.parse(readFileSync(join(dir, 'node_modules/@webq/client/package.json'), 'utf8'));
    if (installed.name !== '@webq/client') throw new Error(`the app installed ${installed.name}, not @webq/client`);
    return { dir, dist: join(dir, 'dist'), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
