import { readFileSync } from 'node:fs';

/**
 * How long the calling thread has waited for a CPU while it could run, in ms (Linux: the run delay in
 * /proc/thread-self/schedstat, accounted each time the thread gets a CPU); 0 where the system does not say. A step's
 * wall time is its CPU time, this wait (a loaded machine) and what it blocked on (the disk).
 */
export function cpuWaitMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1e6 || 0;
  } catch {
    return 0; // not Linux
  }
}
