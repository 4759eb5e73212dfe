export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v >= 100 ? Math.round(v) : Math.round(v * 10) / 10} ${units[u]}`;
}

export function formatRate(tps: number): string {
  return tps >= 100 ? `${Math.round(tps)}` : tps.toFixed(1);
}

export function utf8Bytes(s: string): number {
  return new Blob([s]).size;
}

export const providerLabel: Record<string, string> = {
  cpu: 'CPU',
  webgpu: 'WebGPU',
  cuda: 'CUDA',
  dml: 'DirectML',
  coreml: 'Core ML',
};

/** Milliseconds with sensible precision: 0.42 ms, 3.1 ms, 120 ms. */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/** A wait as people read it: 420 ms, 1.8 s, 95 s. */
export function formatLatency(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** A perplexity, or a dash when it could not be measured. */
export function formatPpl(ppl: number | null): string {
  if (ppl === null) return '—';
  return ppl >= 1000 ? formatInt(ppl) : ppl.toFixed(2);
}

/** "45 s", "3 min", "1 h 20 min" for a time left (other locales: Intl's units, "45秒", "3分钟"); "…" while unknown. */
export function formatEta(seconds: number | null, locale = 'en'): string {
  if (seconds === null || !Number.isFinite(seconds)) return '…';
  const s = Math.round(seconds);
  const unit = (n: number, u: 'second' | 'minute' | 'hour') =>
    locale === 'en' ? `${n} ${{ second: 's', minute: 'min', hour: 'h' }[u]}` : new Intl.NumberFormat(locale, { style: 'unit', unit: u }).format(n);
  if (s < 60) return unit(s, 'second');
  if (s < 3600) return unit(Math.round(s / 60), 'minute');
  return `${unit(Math.floor(s / 3600), 'hour')} ${unit(Math.round((s % 3600) / 60), 'minute')}`;
}
