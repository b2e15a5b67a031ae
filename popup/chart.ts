/**
 * A small inline SVG bar chart for compare mode: one row per measure, two bars (A and B) scaled to the larger of
 * the pair. The numbers are also in the table beside it; the chart carries an accessible summary of its own.
 */
const SVG = 'http://www.w3.org/2000/svg';

export interface BarRow {
  label: string;
  a: number;
  b: number;
  format(v: number): string;
}

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function barChart(rows: BarRow[], names: [string, string]): SVGSVGElement {
  const labelW = 118;
  const barMax = 180;
  const valueW = 86;
  const barH = 14;
  const rowH = 2 * barH + 14;
  const width = labelW + barMax + valueW;
  const height = rows.length * rowH + 22;
  const summary = rows.map((r) => `${r.label}: ${names[0]} ${r.format(r.a)}, ${names[1]} ${r.format(r.b)}`).join('; ');
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': summary,
    class: 'chart',
  });
  svg.append(el('title', {}, summary));
  rows.forEach((r, i) => {
    const y = i * rowH;
    svg.append(el('text', { x: 0, y: y + barH + 4, class: 'chart-label' }, r.label));
    const max = Math.max(Math.abs(r.a), Math.abs(r.b)) || 1;
    [r.a, r.b].forEach((v, j) => {
      const w = Math.max(1, (Math.abs(v) / max) * barMax);
      const by = y + j * (barH + 2);
      svg.append(el('rect', { x: labelW, y: by, width: w, height: barH, class: j === 0 ? 'bar-a' : 'bar-b' }));
      svg.append(el('text', { x: labelW + w + 4, y: by + barH - 3, class: 'chart-value' }, r.format(v)));
    });
  });
  // Legend: which colour is which side.
  const ly = rows.length * rowH + 6;
  names.forEach((name, j) => {
    const x = labelW + j * 110;
    svg.append(el('rect', { x, y: ly, width: 12, height: 12, class: j === 0 ? 'bar-a' : 'bar-b' }));
    svg.append(el('text', { x: x + 16, y: ly + 11, class: 'chart-value' }, name));
  });
  return svg;
}
