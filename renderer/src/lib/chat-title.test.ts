import { describe, expect, it } from 'vitest';
import { titleOf } from './chat-title.js';

describe('titleOf', () => {
  it('takes the first line, collapsed, cut at a word', () => {
    expect(titleOf('  Once upon a time\nthere was')).toBe('Once upon a time');
    expect(titleOf('Tell me\tabout \u0007 lighthouses')).toBe('Tell me about lighthouses');
    expect(titleOf('The keeper wrote down every ship that passed, every storm and every calm night')).toBe('The keeper wrote down every ship that passed,…');
    expect(titleOf('我们今天讨论滑动窗口注意力和注意力汇聚的关系，以及它们如何让模型在很长的对话里保持稳定的表现和速度')).toHaveLength(49);
    expect(titleOf('   ')).toBe('');
  });
});
