import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { main } from './main.js';

describe('perpetua serve (the command)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('refuses a non-loopback address without a key before loading anything', async () => {
    const err: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
    const db = join(mkdtempSync(join(tmpdir(), 'perpetua-serve-cli-')), 'chats.db');
    expect(await main(['serve', '--host', '0.0.0.0', '--db', db])).toBe(1);
    expect(err[0]).toMatch(/^perpetua: Refusing to serve on 0\.0\.0\.0 without an API key/);
  });

  it('serves the model it is given until it is interrupted', async () => {
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const db = join(mkdtempSync(join(tmpdir(), 'perpetua-serve-cli-')), 'chats.db');
    const exit = main(['serve', '--port', '0', '--db', db, '--model', testModelDir(), '--quiet']);
    await vi.waitFor(() => expect(out.join('\n')).toMatch(/serves .* at http:\/\/127\.0\.0\.1:\d+\/v1/), { timeout: 60_000, interval: 20 });
    const baseUrl = /(http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out.join('\n'))![1];
    const models = (await (await fetch(`${baseUrl}/models`)).json()) as { data: { id: string }[] };
    expect(models.data).toHaveLength(1);
    process.emit('SIGINT');
    expect(await exit).toBe(0);
  });
});
