import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generationDefaults } from './generation-config.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function folder(config?: string, sub = ''): string {
  const d = mkdtempSync(join(tmpdir(), 'perpetua-gencfg-'));
  dirs.push(d);
  if (config !== undefined) {
    mkdirSync(join(d, sub), { recursive: true });
    writeFileSync(join(d, sub, 'generation_config.json'), config);
  }
  return d;
}

describe('generationDefaults', () => {
  it('reads a sampled configuration (Qwen2.5-Instruct style)', () => {
    const d = folder(JSON.stringify({ do_sample: true, temperature: 0.7, top_p: 0.8, top_k: 20, repetition_penalty: 1.05 }));
    expect(generationDefaults(d)).toEqual({ temperature: 0.7, topP: 0.8, topK: 20, repetitionPenalty: 1.05 });
  });

  it('is greedy without do_sample, as transformers is, but keeps the repetition penalty', () => {
    const d = folder(JSON.stringify({ temperature: 0.9, top_p: 0.5, repetition_penalty: 1.3 }), 'hf');
    expect(generationDefaults(d)).toEqual({ temperature: 0, repetitionPenalty: 1.3 });
  });

  it('ignores a missing or damaged file and values out of range', () => {
    expect(generationDefaults(folder())).toEqual({});
    expect(generationDefaults(folder('{not json'))).toEqual({});
    expect(generationDefaults(folder('null'))).toEqual({});
    const d = folder(JSON.stringify({ do_sample: true, temperature: 'hot', top_p: 5, repetition_penalty: 0 }));
    expect(generationDefaults(d)).toEqual({});
  });
});
