import { describe, expect, it } from 'vitest';
import { migrationProgressOnStderr } from './migration-progress.js';

describe('database upgrade progress on stderr', () => {
  it('says when it starts, about every tenth, and when it is done', () => {
    const lines: string[] = [];
    const report = migrationProgressOnStderr((l) => lines.push(l.trim()));
    for (let done = 0; done <= 50_000; done += 2000) report({ step: 'search index', done, total: 50_000 });
    report({ step: 'search index', done: 50_000, total: 50_000 });
    expect(lines[0]).toBe('[upgrading the database: search index, 0/50000 messages]');
    expect(lines.at(-1)).toBe('[upgrading the database: search index, 50000/50000 messages]');
    expect(lines.length).toBe(11);
  });
});
