import { spawn } from 'node:child_process';

/**
 * Dawn (the WebGPU implementation inside onnxruntime) prints warnings about some adapters' limits straight to the
 * process's stderr from native code (on Mesa's lavapipe: "Warning: maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced …"), where neither onnxruntime nor Node can silence them. A command that asks for webgpu
 * therefore runs in a child whose stderr passes through here with those lines dropped; stdin and stdout stay the
 * terminal's, and the child is told whether stderr was one so that progress lines still redraw in place.
 */
const DAWN_WARNING = /^Warning: \w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const FILTERED = 'PERPETUA_STDERR_FILTERED';
const STDERR_TTY = 'PERPETUA_STDERR_IS_TTY';

/** Whether these arguments ask for the WebGPU provider (the only one that creates a Dawn device). */
export function asksForWebGpu(args: readonly string[]): boolean {
  return args.some((a, i) => a === '--ep=webgpu' || (a === '--ep' && args[i + 1] === 'webgpu'));
}

/** In the child: stderr is the parent's pipe, but the user sees a terminal when the parent had one. */
export function adoptParentTerminal(): void {
  if (process.env[STDERR_TTY] === '1') process.stderr.isTTY = true;
}

/**
 * Runs `script args` as a child with Dawn's warnings filtered out of its stderr and returns its exit code; null
 * when no filtering is needed (no webgpu asked, or this is the child already).
 */
export async function runWithoutDawnWarnings(script: string, args: string[]): Promise<number | null> {
  if (!asksForWebGpu(args) || process.env[FILTERED] === '1') return null;
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [FILTERED]: '1', [STDERR_TTY]: process.stderr.isTTY ? '1' : '' },
  });
  // Ctrl-C reaches the child through the terminal's process group; the parent only waits for it to finish
  const ignore = () => {};
  process.on('SIGINT', ignore);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGTERM', forward);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // a native fprintf of one line is one pipe write, so lines are whole within a chunk
    const kept = chunk.split('\n').filter((line) => !DAWN_WARNING.test(line));
    if (kept.length > 0 && kept.join('\n') !== '') process.stderr.write(kept.join('\n'));
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGKILL' ? 9 : 15));
    });
  });
}
