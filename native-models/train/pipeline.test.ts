import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/**
 * The PyTorch training pipeline's own tests (Debian's python3-torch, installed by build/setup.sh): a few CPU
 * training steps, the tokenizer against the JS library, the sink-token batches, and the exported weights through
 * the project's converter and engine against PyTorch's logits.
 */
describe('training pipeline (Python)', () => {
  it('passes its unit tests, none skipped', async () => {
    const { stderr } = await run('/usr/bin/python3', ['-m', 'unittest', 'discover', '-s', 'native-models/train', '-p', 'test_*.py', '-v'], {
      maxBuffer: 1 << 24,
      timeout: 600_000,
    }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`The Python pipeline tests failed:\n${e.stderr ?? e.message}`);
    });
    expect(stderr).toMatch(/\nOK\s*$/);
    expect(stderr).not.toMatch(/skipped/);
  }, 600_000);
});
