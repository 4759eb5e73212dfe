/**
 * Importing (models.add) and in-app conversion of a safetensors checkpoint (models.convert): it runs in a worker thread with progress in bytes
 * of weights, lands in the library when done, and a cancel or a failure leaves no folder behind.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ModelJobPacket } from '../api/packets.js';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { CoreService } from '../core/core-service.js';
import { readChannel } from '../core/read-channel.js';

function setUp() {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-convert-'));
  const downloadDir = join(dir, 'models');
  const core = new CoreService({ dbFile: join(dir, 'perpetua.db'), downloadDir });
  return { core, dir, downloadDir };
}

const convert = (core: CoreService, dir: string) => readChannel<ModelJobPacket>((signal) => core.modelsConvert({ dir }, signal));

/** Everything under the models folder, hidden folders included (a half conversion must not be there). */
function leftovers(downloadDir: string): string[] {
  if (!existsSync(downloadDir)) return [];
  return readdirSync(downloadDir, { recursive: true }).map(String).sort();
}

describe('models.convert', () => {
  it.runIf(fixtureAvailable(FIXTURES.stories260k))('converts with progress in bytes of weights, then imports the new folder', async () => {
    const { core, downloadDir } = setUp();
    const run = convert(core, join(FIXTURES.stories260k, 'hf'));
    const end = await run.closed;
    expect(end).toMatchObject({ type: 'done', model: { name: 'stories260k-onnx' } });
    const progress = run.packets.filter((p): p is Extract<ModelJobPacket, { type: 'progress' }> => p.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[progress.length - 1].done).toBe(progress[progress.length - 1].total);
    expect(progress[0].total).toBeGreaterThan(100_000);
    expect((await core.modelsList()).map((m) => m.name)).toContain('stories260k-onnx');
    expect(leftovers(downloadDir).filter((f) => f.startsWith('.converting/'))).toEqual([]);
    await core.close();
  });

  it.runIf(fixtureAvailable(FIXTURES.stories260k))('cancelled, ends "stopped" and leaves no folder and no model', async () => {
    const { core, downloadDir } = setUp();
    const run = convert(core, join(FIXTURES.stories260k, 'hf'));
    run.cancel();
    expect(await run.closed).toEqual({ type: 'stopped' });
    expect(leftovers(downloadDir).filter((f) => f !== '.converting')).toEqual([]);
    expect(await core.modelsList()).toEqual([]);
    await core.close();
  });

  it('fails with a code for a checkpoint it cannot convert, leaving nothing behind', async () => {
    const { core, dir, downloadDir } = setUp();
    const checkpoint = join(dir, 'gpt2-hf');
    mkdirSync(checkpoint);
    writeFileSync(join(checkpoint, 'config.json'), '{"model_type": "gpt2"}');
    writeFileSync(join(checkpoint, 'model.safetensors'), '');
    const end = await convert(core, checkpoint).closed;
    expect(end).toMatchObject({ type: 'failed', error: { code: 'model_unusable' } });
    expect(end.type === 'failed' && end.error.message).toMatch(/Llama, Mistral and Qwen2 checkpoints, not "gpt2"/);
    expect(leftovers(downloadDir).filter((f) => f !== '.converting')).toEqual([]);
    await core.close();
  });
});

describe('models.add', () => {
  it('imports with progress in bytes of the weights hashed for the model’s identity', async () => {
    const { core, dir } = setUp();
    const copy = join(dir, 'tiny-copy');
    cpSync(testModelDir(), copy, { recursive: true }); // a new path: its hash is not cached yet
    const run = readChannel<ModelJobPacket>((signal) => core.modelsAdd({ dir: copy }, signal));
    const end = await run.closed;
    expect(end).toMatchObject({ type: 'done', model: { name: 'tiny-copy' } });
    const hashing = run.packets.filter((p): p is Extract<ModelJobPacket, { type: 'progress' }> => p.type === 'progress' && p.phase === 'hash');
    const weights = readdirSync(join(copy, 'onnx')).reduce((n, f) => n + statSync(join(copy, 'onnx', f)).size, 0);
    expect(hashing[hashing.length - 1]).toMatchObject({ done: weights, total: weights });
    await core.close();
  });

  it('cancelled, ends "stopped" and adds nothing', async () => {
    const { core, dir } = setUp();
    const copy = join(dir, 'tiny-copy');
    cpSync(testModelDir(), copy, { recursive: true });
    const run = readChannel<ModelJobPacket>((signal) => core.modelsAdd({ dir: copy }, signal));
    run.cancel();
    expect(await run.closed).toEqual({ type: 'stopped' });
    expect(await core.modelsList()).toEqual([]);
    await core.close();
  });

  it('fails with the code that says what to do (a checkpoint needs converting)', async () => {
    const { core, dir } = setUp();
    const checkpoint = join(dir, 'llama-hf');
    mkdirSync(checkpoint);
    writeFileSync(join(checkpoint, 'config.json'), '{"model_type": "llama"}');
    writeFileSync(join(checkpoint, 'model.safetensors'), '');
    const end = await readChannel<ModelJobPacket>((signal) => core.modelsAdd({ dir: checkpoint }, signal)).closed;
    expect(end).toMatchObject({ type: 'failed', error: { code: 'needs_conversion' } });
    await core.close();
  });
});
