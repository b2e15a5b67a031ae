/**
 * Horizontal grouped bar charts as standalone SVG (no chart library): one group per label, one bar per series,
 * the value printed at the bar's end. Horizontal, because labels like "webgpu 4-bit" read better than rotated ticks.
 */
export interface BarGroup {
  label: string;
  values: (number | null)[];
}
export interface BarChart {
  title: string;
  unit: string;
  series: string[];
  groups: BarGroup[];
}

const COLORS = ['#3b6fb6', '#e07b39', '#4c9a52', '#b34d4d', '#7f63b8', '#8c6d46'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(2));

export function barChart(c: BarChart): string {
  const labelW = 190;
  const plotW = 420;
  const valueW = 80;
  const bar = 12;
  const gap = 10;
  const top = 46;
  const legend = c.series.length > 1 ? 22 : 0;
  const max = Math.max(
    1e-9,
    ...c.groups.flatMap((g) => g.values.filter((v): v is number => v !== null && Number.isFinite(v))),
  );
  const groupH = c.series.length * bar + gap;
  const height = top + legend + c.groups.length * groupH + 24;
  const width = labelW + plotW + valueW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
    `<text x="10" y="36" fill="#555">${esc(c.unit)}</text>`,
  ];
  c.series.forEach((s, i) => {
    if (!legend) return;
    const x = labelW + i * 130;
    out.push(
      `<rect x="${x}" y="${top - 4}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${x + 14}" y="${top + 5}">${esc(s)}</text>`,
    );
  });
  c.groups.forEach((g, gi) => {
    const y0 = top + legend + gi * groupH;
    out.push(
      `<text x="${labelW - 8}" y="${y0 + (c.series.length * bar) / 2 + 4}" text-anchor="end">${esc(g.label)}</text>`,
    );
    g.values.forEach((v, si) => {
      const y = y0 + si * bar;
      if (v === null || !Number.isFinite(v)) {
        out.push(`<text x="${labelW + 4}" y="${y + bar - 2}" fill="#999">n/a</text>`);
        return;
      }
      const w = Math.max(1, (v / max) * plotW);
      out.push(
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${COLORS[si % COLORS.length]}"/>`,
        `<text x="${(labelW + w + 4).toFixed(1)}" y="${y + bar - 2}" fill="#333">${num(v)}</text>`,
      );
    });
  });
  out.push(
    `<line x1="${labelW}" y1="${top + legend - 6}" x2="${labelW}" y2="${height - 18}" stroke="#888"/>`,
    '</svg>',
    '',
  );
  return out.join('\n');
}
