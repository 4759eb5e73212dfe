import type { SinkReport } from './sink-inspector.js';

const SHADES = ' ░▒▓█';

/** The report as a text heatmap: a row per layer, a cell per head (shade and percent). */
export function sinkHeatmap(r: SinkReport): string {
  const cell = (v: number) => `${SHADES[Math.min(SHADES.length - 1, Math.floor(v * SHADES.length))]}${String(Math.round(v * 100)).padStart(3)}%`;
  const head = '       ' + Array.from({ length: r.heads }, (_, h) => `h${h}`.padStart(5)).join(' ');
  const rows = r.share.map((heads, l) => `L${String(l).padEnd(4)}  ${heads.map(cell).join(' ')}   mean ${Math.round((100 * heads.reduce((a, b) => a + b, 0)) / heads.length)}%`);
  return [head, ...rows].join('\n');
}
