import { describe, expect, it } from 'vitest';
import { ProgressTicker } from './progress-ticker.js';

describe('ProgressTicker', () => {
  it('passes the first and the last count, a few in between, never a repeat, with the time left at the recent rate', () => {
    const t = new ProgressTicker(100);
    expect(t.tick(0, 1000, 0)).toEqual({ done: 0, total: 1000, etaSeconds: null });
    expect(t.tick(100, 1000, 50)).toBeNull(); // too soon
    expect(t.tick(200, 1000, 250)).toEqual({ done: 200, total: 1000, etaSeconds: 1 }); // 200 in 250 ms: 800 left at 800 a second
    expect(t.tick(1000, 1000, 260)).toMatchObject({ done: 1000, total: 1000, etaSeconds: 0 });
    expect(t.tick(1000, 1000, 270)).toBeNull();
  });
});
