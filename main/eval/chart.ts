import * as echarts from 'echarts';

/** Fixed colours so the same policy looks the same in every plot. */
export const POLICY_COLORS: Record<string, string> = {
  dense: '#d62728',
  window: '#ff7f0e',
  recompute: '#2ca02c',
  sink: '#1f77b4',
};
const EXTRA_COLORS = ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A colour per series: policy colours by name, then a palette for the rest. */
export function seriesColors(labels: string[], names: string[]): string[] {
  const used = new Set<string>();
  const first = labels.map((_, i) => {
    const c = POLICY_COLORS[names[i]];
    if (!c || used.has(c)) return null;
    used.add(c);
    return c;
  });
  const free = EXTRA_COLORS.filter((c) => !used.has(c));
  let next = 0;
  return first.map((c) => c ?? free[next++ % free.length]);
}

/**
 * Renders an ECharts option to a standalone SVG string under Node (server-side rendering, no browser, no DOM).
 * Animation is off so the SVG holds the final frame.
 */
export function renderSvg(option: echarts.EChartsOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, backgroundColor: '#ffffff', textStyle: { fontFamily: 'DejaVu Sans, Arial, sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
