/**
 * The report as a table (long texts — fallbacks, reasons, hints — as numbered notes under it, so the table stays
 * narrow) or as JSON (`--json`: the Report object as it is).
 */
import { DEFAULT_MODEL_HOST } from '../extension/models/model-host';
import type { Report, Row } from './check';

const mb = (bytes: number | undefined) => (bytes === undefined ? '—' : (bytes / 1e6).toFixed(2));
const ms = (x: number | undefined) => (x === undefined ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(0));
const OUTPUT_WIDTH = 48;
const clip = (text: string) => (text.length > OUTPUT_WIDTH ? `${text.slice(0, OUTPUT_WIDTH - 1)}…` : text);

/**
 * Per-weight fallbacks ("conv2d_10.w_0 (Conv): … stored at 8, not 4") come by the dozen with one message: the
 * table shows each message once with its count; the JSON keeps every line.
 */
export function groupFallbacks(fallbacks: readonly string[]): string[] {
  const groups = new Map<string, string[]>();
  for (const f of fallbacks) {
    const m = f.match(/^(\S+) \((\w+)\): (.*)$/);
    const key = m ? `${m[2]}: ${m[3]}` : f;
    const names = groups.get(key) ?? [];
    if (m) names.push(m[1]!);
    groups.set(key, names);
  }
  return [...groups].map(([key, names]) =>
    names.length > 1
      ? `${names.length} weights (${names[0]}, …) ${key}`
      : names.length === 1
        ? `${names[0]} ${key}`
        : key,
  );
}

export function formatTable(report: Report): string {
  const notes: string[] = [];
  const note = (text: string) => {
    let at = notes.indexOf(text);
    if (at < 0) at = notes.push(text) - 1;
    return `[${at + 1}]`;
  };
  // Registry ids' rows show what the task produced (embedding, label, transcript); the JSON has it in full.
  const outputs = report.rows.some((r) => r.output);
  const cells = (r: Row): string[] => {
    const fallbacks = r.fallbacks.length
      ? groupFallbacks(r.fallbacks)
          .map((f) => note(`fallback: ${f}`))
          .join('')
      : '—';
    const outcome =
      r.status === 'ok'
        ? `${r.agreement!.agrees ? 'yes' : 'NO'}: ${r.agreement!.summary}`
        : `${r.status === 'unsupported' ? 'unsupported' : 'FAILED'} ${note(`${r.reason}${r.hint ? `\n      → ${r.hint}` : ''}`)}`;
    return [
      r.browser,
      r.platform,
      String(r.bits),
      r.backend ?? '—',
      fallbacks,
      ms(r.loadMs),
      ms(r.inferenceMs),
      mb(r.modelBytes),
      r.memoryReductionPercent === undefined ? '—' : `${r.memoryReductionPercent.toFixed(1)}%`,
      ...(outputs ? [r.output ? clip(r.output.summary) : '—'] : []),
      outcome,
    ];
  };
  const head = [
    'browser',
    'platform',
    'bits',
    'backend',
    'fallbacks',
    'load ms',
    `infer ms`,
    'model MB',
    'mem −',
    ...(outputs ? ['output'] : []),
    'agrees with fp32',
  ];
  const body = report.rows.map(cells);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();

  const out: string[] = [`model: ${report.model}; inference = median of ${report.runs} timed run(s) after one warm-up`];
  for (const b of report.browsers) {
    out.push(b.error ? `${b.name}: ${b.error}` : `${b.name}: ${b.version}; WebGPU ${b.webgpu}; WebNN ${b.webnn}`);
    if (b.name === 'chrome-harness')
      out.push(
        '  chrome-harness = the engine in a plain page inside @sparticuz/chromium (WebNN works there; no extension, no consent)',
      );
  }
  if (report.modelHost)
    out.push(`model host: ${report.modelHost} (--model-host, saved on each browser's options page)`);
  if (report.modelHost === null)
    out.push(
      `model host: ${DEFAULT_MODEL_HOST} (the extension's default, as every check starts a new profile; --model-host sets another)`,
    );
  out.push('', line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line));
  if (notes.length) out.push('', ...notes.map((n, i) => `[${i + 1}] ${n}`));
  const count = (s: Row['status']) => report.rows.filter((r) => r.status === s).length;
  out.push(
    '',
    `${count('ok')} ran, ${count('unsupported')} unsupported, ${count('failed')} failed; exit code ${report.exitCode}`,
  );
  return out.join('\n');
}

export function formatJson(report: Report): string {
  return JSON.stringify(report, null, 2);
}
