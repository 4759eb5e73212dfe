import { describe, expect, it } from 'vitest';
import { TransferRate } from './transfer-rate.js';

describe('TransferRate', () => {
  it('measures the speed of the last seconds and the time left', () => {
    const r = new TransferRate(5000);
    expect(r.bytesPerSecond).toBe(0);
    expect(r.etaSeconds(100)).toBeNull();
    for (let t = 0; t <= 10_000; t += 1000) r.sample(t < 5000 ? t * 10 : 50_000 + (t - 5000), t); // 10 KB/s, then 1 KB/s
    expect(r.bytesPerSecond).toBeCloseTo(1000, 5); // the window forgot the fast start
    expect(r.etaSeconds(65_000)).toBeCloseTo(10, 5);
  });
});
