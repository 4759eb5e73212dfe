import { readFileSync } from 'node:fs';

/**
 * The calling thread's CPU time and the time it waited for a CPU while runnable, in ms (Linux:
 * /proc/thread-self/schedstat). Elsewhere the process's CPU time (all its threads) and no wait. A step's wall time is
 * its CPU time, its wait for a CPU (a loaded machine) and what it blocked on (the disk).
 */
export function threadTime(): { cpuMs: number; waitMs: number } {
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
    if (run! > 0) return { cpuMs: run! / 1e6, waitMs: wait! / 1e6 };
  } catch {
    // not Linux
  }
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000, waitMs: 0 };
}
