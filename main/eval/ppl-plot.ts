import { basename } from 'node:path';
import type { EChartsOption, SeriesOption } from 'echarts';
import { renderSvg, seriesColors } from './chart.js';
import type { PplReport } from './ppl-report.js';
import type { PplCurvePoint } from './stream-ppl.js';

/**
 * StreamingLLM's Figure 3 for one model and text: log-perplexity against stream position, one line per policy.
 * Top panel: the running log-PPL (mean NLL of every token so far). Bottom panel: the log-PPL of each block of
 * `interval` tokens, where a collapse shows at the position it happens. A dashed line marks the model's
 * pretrained context length.
 */
export function pplPlotSvg(report: PplReport, width = 1000, height = 720): string {
  const results = report.results;
  const colors = seriesColors(
    results.map((r) => r.policy),
    results.map((r) => r.spec.name),
  );
  const names = results.map((r) => `${r.policy}: PPL ${r.ppl >= 100 ? r.ppl.toFixed(0) : r.ppl.toFixed(2)}${r.complete ? '' : ' (partial)'}`);
  const ctx = report.model.contextLength;
  const maxX = Math.max(report.settings.tokens, ...results.map((r) => r.tokens));
  const contextMark = (gridIndex: number, label: boolean): SeriesOption => ({
    type: 'line',
    name: '__context',
    xAxisIndex: gridIndex,
    yAxisIndex: gridIndex,
    data: [],
    silent: true,
    markLine: {
      silent: true,
      symbol: 'none',
      lineStyle: { color: '#888888', type: 'dashed', width: 1 },
      label: { show: label, formatter: `pretrained context ${ctx}`, position: 'insideEndTop', color: '#555555', fontSize: 11 },
      data: [{ xAxis: ctx }],
    },
  });
  // The bottom panel merges the report's blocks into about 50 along the stream, so it stays readable.
  const group = Math.max(1, Math.round(maxX / 50 / report.settings.interval));
  const block = group * report.settings.interval;
  const series: SeriesOption[] = [];
  for (const panel of [0, 1]) {
    results.forEach((r, i) => {
      const data = panel === 0 ? r.curve.map((p) => [p.position, p.logPpl]) : mergeBlocks(r.curve, group);
      series.push({
        type: 'line',
        name: names[i],
        xAxisIndex: panel,
        yAxisIndex: panel,
        showSymbol: false,
        symbol: 'none',
        color: colors[i],
        lineStyle: { width: 1.8, color: colors[i] },
        data: data.map(([x, y]) => [x, Number(y.toFixed(5))]),
      });
    });
    if (ctx > 0 && ctx < maxX) series.push(contextMark(panel, panel === 0));
  }
  const s = report.settings;
  const option: EChartsOption = {
    title: {
      text: `Streaming perplexity: ${report.model.name} on ${basename(report.text.file)}`,
      subtext: `cache size L = ${s.window}, sinks S = ${s.sink}, ${s.tokens} tokens, ${s.chunk === 1 ? 'token by token' : `chunks of ${s.chunk}`}${report.interrupted ? ' (interrupted)' : ''}`,
      left: 'center',
      textStyle: { fontSize: 16 },
      subtextStyle: { fontSize: 12, color: '#444444' },
    },
    legend: { top: 58, data: names, itemWidth: 24, textStyle: { fontSize: 12 } },
    grid: [
      { left: 70, right: 30, top: 100, height: 250 },
      { left: 70, right: 30, top: 410, height: 250 },
    ],
    xAxis: [0, 1].map((i) => ({
      type: 'value' as const,
      gridIndex: i,
      min: 0,
      max: maxX,
      name: i === 1 ? 'position in the stream (tokens)' : '',
      nameLocation: 'middle' as const,
      nameGap: 28,
      splitLine: { lineStyle: { color: '#eeeeee' } },
    })),
    yAxis: [0, 1].map((i) => ({
      type: 'value' as const,
      gridIndex: i,
      scale: true,
      name: i === 0 ? 'log PPL (running mean NLL)' : `log PPL per block of ${block} tokens`,
      nameLocation: 'middle' as const,
      nameGap: 45,
      axisLabel: { formatter: (v: number) => v.toFixed(1) },
      splitLine: { lineStyle: { color: '#eeeeee' } },
    })),
    series,
  };
  return renderSvg(option, width, height);
}

/** Merges every `group` consecutive curve blocks into one point at the last position: the mean NLL over its tokens. */
function mergeBlocks(curve: PplCurvePoint[], group: number): [number, number][] {
  const out: [number, number][] = [];
  let prev = 0;
  let sum = 0;
  let start = 0;
  curve.forEach((p, i) => {
    sum += p.blockLogPpl * (p.position - prev);
    prev = p.position;
    if ((i + 1) % group === 0 || i === curve.length - 1) {
      out.push([p.position, sum / (p.position - start)]);
      start = p.position;
      sum = 0;
    }
  });
  return out;
}
