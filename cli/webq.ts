/**
 * `webq` command line: `webq check [options]` (see HELP in args.ts). Run through cli/webq.mjs (`npx webq`,
 * `npm run check -- …`) or directly with `npx tsx cli/webq.ts`.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, parseCheckArgs, UsageError, type CheckConfig } from './args';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message: string): never {
  process.stderr.write(`webq: ${message}\n`);
  process.exit(2);
}

/** The built extension for each browser asked for; webq check never builds (a stale build would be silent). */
function requireBuilds(config: CheckConfig): void {
  const needed = [
    ...config.browsers.map((b) => (b === 'chrome' ? 'dist/chrome/manifest.json' : 'dist/firefox/manifest.json')),
    ...(config.webnnHarness ? ['dist/harness/index.html'] : []),
  ];
  const missing = needed.filter((f) => !existsSync(join(ROOT, f))).map((f) => dirname(f));
  if (missing.length)
    fail(
      `${missing.join(', ')} missing: run \`npm run build\` first (webq check uses the built extension and builds nothing itself)`,
    );
}

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(`${HELP}\n`);
  process.exit(command === undefined ? 2 : 0);
}
if (command !== 'check') fail(`unknown command "${command}"; the only command is \`webq check\` (webq check --help)`);

// Paths the user gives are relative to where they ran the command; everything else (dist/, the test support's
// model paths) is relative to the repository, so the process moves there before loading the rest.
const userCwd = process.cwd();
let config: CheckConfig | 'help';
try {
  config = parseCheckArgs(rest, userCwd);
} catch (err) {
  if (err instanceof UsageError) fail(`${err.message}\n(webq check --help lists the options)`);
  throw err;
}
if (config === 'help') {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
if (config.input && existsSync(resolve(userCwd, config.input))) config.input = resolve(userCwd, config.input);
process.chdir(ROOT);
requireBuilds(config);

const { runCheck } = await import('./check');
const { formatJson, formatTable } = await import('./report');
const report = await runCheck(config);
process.stdout.write(`${config.json ? formatJson(report) : formatTable(report)}\n`);
process.exit(report.exitCode);
