import { describe, expect, it } from 'vitest';
import { Admission } from './admission.js';

describe('Admission', () => {
  it('runs up to the limit side by side, queues the next in order, refuses past the queue, and lets a leaver out of the line', async () => {
    const gate = new Admission(1, 2);
    const first = await gate.enter(new AbortController().signal);
    const order: string[] = [];
    const second = gate.enter(new AbortController().signal).then((release) => (order.push('second'), release));
    const leaver = new AbortController();
    const left = gate.enter(leaver.signal);
    await expect(gate.enter(new AbortController().signal)).rejects.toMatchObject({ status: 429, code: 'too_many_requests' });
    leaver.abort();
    await expect(left).rejects.toMatchObject({ status: 499 });
    expect(gate.waitingCount).toBe(1);
    expect(order).toEqual([]);
    first();
    first(); // a second release is a no-op
    const releaseSecond = await second;
    expect(order).toEqual(['second']);
    expect(gate.active).toBe(1);
    releaseSecond();
    expect(gate.active).toBe(0);
  });
});
