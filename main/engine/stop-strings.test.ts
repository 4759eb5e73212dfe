import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from './stop-strings.js';

describe('StopStringMatcher', () => {
  it('holds back a possible stop string and cuts at a real one', () => {
    const m = new StopStringMatcher(['\nUser:']);
    const out: string[] = [];
    for (const d of ['Hello', ' there', '\n', 'Us', 'er', ': more']) {
      const r = m.push(d);
      out.push(r.emit);
      if (r.stopped) break;
    }
    expect(out.join('')).toBe('Hello there');
    expect(m.text).toBe('Hello there');
  });

  it('releases held text that turned out not to be a stop string', () => {
    const m = new StopStringMatcher(['###']);
    expect(m.push('a #').emit).toBe('a ');
    expect(m.push('# b').emit).toBe('## b');
    expect(m.push('c#').emit).toBe('c');
    expect(m.finish('#')).toBe('##');
    expect(m.finish()).toBe('');
    expect(m.text).toBe('a ## bc##');
  });
});
