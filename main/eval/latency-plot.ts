import type { EChartsOption, SeriesOption } from 'echarts';
import { renderSvg, seriesColors } from './chart.js';
import type { LatencyReport } from './latency-report.js';

/**
 * Per-token decode latency against stream position, one line per policy (p50 solid, p90 dotted), on a log scale
 * so recompute's and sink's costs fit on one chart (StreamingLLM's Figure 10 shows them against cache size).
 */
export function latencyPlotSvg(report: LatencyReport, width = 1000, height = 560): string {
  const results = report.results;
  const colors = seriesColors(
    results.map((r) => r.policy),
    results.map((r) => r.spec.name),
  );
  const names = results.map((r) => `${r.policy}${r.steady ? `: p50 ${fmt(r.steady.p50Ms)} ms` : ''}`);
  const series: SeriesOption[] = [];
  results.forEach((r, i) => {
    series.push({
      type: 'line',
      name: names[i],
      symbol: 'circle',
      symbolSize: 6,
      color: colors[i],
      lineStyle: { width: 2, color: colors[i] },
      data: r.points.map((p) => [p.position, Number(p.p50Ms.toFixed(4))]),
    });
    series.push({
      type: 'line',
      name: names[i],
      symbol: 'none',
      color: colors[i],
      lineStyle: { width: 1, type: 'dotted', color: colors[i] },
      data: r.points.map((p) => [p.position, Number(p.p90Ms.toFixed(4))]),
    });
  });
  const s = report.settings;
  const sp = report.speedup?.p50 ? `; sink is ${report.speedup.p50}× faster than recompute per token` : '';
  const model = report.model.shape ? `${report.model.shape.source} architecture, random weights` : report.model.name;
  const option: EChartsOption = {
    title: {
      text: `Per-token decode latency: ${model}`,
      subtext: `cache size L = ${s.window}, ${s.samples} timed tokens per point, p50 solid, p90 dotted${sp}${report.interrupted ? ' (interrupted)' : ''}`,
      left: 'center',
      textStyle: { fontSize: 16 },
      subtextStyle: { fontSize: 12, color: '#444444' },
    },
    legend: { top: 62, data: names, textStyle: { fontSize: 12 } },
    grid: { left: 80, right: 40, top: 105, bottom: 60 },
    xAxis: {
      type: 'value',
      min: 0,
      name: 'position in the stream (tokens)',
      nameLocation: 'middle',
      nameGap: 30,
      splitLine: { lineStyle: { color: '#eeeeee' } },
    },
    yAxis: {
      type: 'log',
      name: 'ms per token (log scale)',
      nameLocation: 'middle',
      nameGap: 55,
      axisLabel: { formatter: (v: number) => fmt(v) },
      splitLine: { lineStyle: { color: '#eeeeee' } },
    },
    series,
  };
  return renderSvg(option, width, height);
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2);
}
