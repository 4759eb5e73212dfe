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

export function formatTime(ms: number): string {
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
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

export const policyLabel: Record<string, string> = {
  dense: 'Dense',
  window: 'Window',
  recompute: 'Recompute',
  sink: 'Attention sink',
};

export function describePolicy(p: { name: string; sink: number; window: number; pinSystem: boolean }): string {
  switch (p.name) {
    case 'dense':
      return 'dense';
    case 'sink':
      return `sink ${p.sink} + ${formatInt(p.window)}${p.pinSystem ? ' · pinned' : ''}`;
    default:
      return `${p.name} ${formatInt(p.window)}${p.pinSystem ? ' · pinned' : ''}`;
  }
}
