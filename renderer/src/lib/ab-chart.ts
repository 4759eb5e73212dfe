/**
 * The A/B summary charts (ECharts, loaded on demand). Rendered with the SVG renderer into an element: it
 * styles its nodes through the CSSOM, never with style attributes or <style> elements, so the strict CSP
 * (style-src 'self') holds; tooltips are drawn as rich text inside the chart for the same reason (ECharts'
 * HTML tooltips carry inline styles).
 */
import * as echarts from 'echarts/core';
import { BarChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import type { AbPolicySummary } from './api.js';

echarts.use([BarChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent, SVGRenderer]);

export interface ChartColors {
  text: string;
  muted: string;
  border: string;
  wins: string;
  ties: string;
  losses: string;
  latency: string;
  ppl: string;
  font: string;
}

/** The theme's colours, read from the CSS custom properties. */
export function themeColors(el: Element = document.documentElement): ChartColors {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    text: v('--text', '#1d1c1a'),
    muted: v('--muted', '#807b73'),
    border: v('--border', '#e6e2db'),
    wins: v('--ab-win', '#2e9e6b'),
    ties: v('--ab-tie', '#a8a29e'),
    losses: v('--ab-loss', '#d0655a'),
    latency: v('--ab-a', '#5b4fd6'),
    ppl: v('--ab-b', '#0e9384'),
    font: v('--font', 'system-ui, sans-serif'),
  };
}

/** The charts' words, in the interface language (abChart.* in the locale files). */
export interface ChartText {
  votes: string;
  medians: string;
  won: string;
  tied: string;
  lost: string;
  latency: string;
  ppl: string;
}

export interface AbCharts {
  update(policies: AbPolicySummary[], labels: string[], colors: ChartColors, text: ChartText): void;
  resize(): void;
  dispose(): void;
}

/** Two charts: votes per policy (won / tied / lost, stacked), and median latency and conversation perplexity per policy. */
export function mountAbCharts(votesEl: HTMLElement, mediansEl: HTMLElement): AbCharts {
  const votes = echarts.init(votesEl, null, { renderer: 'svg' });
  const medians = echarts.init(mediansEl, null, { renderer: 'svg' });
  return {
    update(policies, labels, c, text) {
      const axisLabel = { color: c.muted, fontFamily: c.font, fontSize: 11, interval: 0, width: 96, overflow: 'truncate' as const };
      const base = {
        animation: false,
        textStyle: { fontFamily: c.font, color: c.text },
        tooltip: { trigger: 'axis' as const, renderMode: 'richText' as const, axisPointer: { type: 'shadow' as const } },
        legend: { top: 1, right: 0, textStyle: { color: c.muted, fontSize: 11 }, itemWidth: 12, itemHeight: 8, itemGap: 12 },
      };
      const title = (text: string) => ({ text, left: 0, top: 0, textStyle: { color: c.text, fontSize: 13, fontWeight: 600 as const, fontFamily: c.font } });
      const yAxis = (name: string) => ({
        type: 'value' as const,
        name,
        nameTextStyle: { color: c.muted, fontSize: 11, align: 'left' as const },
        axisLabel: { color: c.muted, fontSize: 11 },
        splitLine: { lineStyle: { color: c.border } },
      });
      const xAxis = { type: 'category' as const, data: labels, axisLabel, axisLine: { lineStyle: { color: c.border } }, axisTick: { show: false } };
      votes.setOption(
        {
          ...base,
          title: title(text.votes),
          grid: { left: 36, right: 12, top: 52, bottom: 28 },
          xAxis,
          yAxis: { ...yAxis('runs'), minInterval: 1 },
          series: [
            { name: text.won, type: 'bar', stack: 'votes', data: policies.map((p) => p.wins), itemStyle: { color: c.wins }, barMaxWidth: 44 },
            { name: text.tied, type: 'bar', stack: 'votes', data: policies.map((p) => p.ties), itemStyle: { color: c.ties }, barMaxWidth: 44 },
            { name: text.lost, type: 'bar', stack: 'votes', data: policies.map((p) => p.losses), itemStyle: { color: c.losses }, barMaxWidth: 44 },
          ],
        },
        true,
      );
      medians.setOption(
        {
          ...base,
          title: title(text.medians),
          grid: { left: 44, right: 44, top: 52, bottom: 28 },
          xAxis,
          yAxis: [yAxis(text.latency), { ...yAxis(text.ppl), nameTextStyle: { color: c.muted, fontSize: 11, align: 'right' as const }, splitLine: { show: false } }],
          series: [
            {
              name: text.latency,
              type: 'bar',
              yAxisIndex: 0,
              data: policies.map((p) => round(p.medianLatencyP50Ms)),
              itemStyle: { color: c.latency },
              barMaxWidth: 32,
            },
            {
              name: text.ppl,
              type: 'bar',
              yAxisIndex: 1,
              data: policies.map((p) => (p.medianTranscriptPpl === null ? null : round(p.medianTranscriptPpl))),
              itemStyle: { color: c.ppl },
              barMaxWidth: 32,
            },
          ],
        },
        true,
      );
    },
    resize() {
      votes.resize();
      medians.resize();
    },
    dispose() {
      votes.dispose();
      medians.dispose();
    },
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
