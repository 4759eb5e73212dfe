/**
 * Entry of the core process (Electron utilityProcess, forked by main/app): starts the core (core-start.ts)
 * and exits with 1 shortly after reporting a fatal start-up error; once serving, it sends a heartbeat every
 * HEARTBEAT_MS. Args: --db=FILE --models=DIR.
 */
import type { ParentPortLike } from './message-port-host.js';
import { startCore } from './core-start.js';
import { HEARTBEAT_MS } from '../api/shell-protocol.js';

const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
if (!parentPort) {
  console.error('core-process runs inside an Electron utilityProcess (process.parentPort is missing).');
  process.exit(2);
}

const core = await startCore(parentPort, process.argv.slice(2));
if (core) {
  process.on('SIGTERM', () => void core.close().finally(() => process.exit(0)));
  // a heartbeat from the main loop: if anything freezes it, the shell sees the silence and restarts the core. The
  // first beat goes before any request is served: the shell watches from it, and a window opens a chat at once
  const beat = () => parentPort.postMessage({ type: 'heartbeat' });
  beat();
  setInterval(beat, HEARTBEAT_MS).unref();
}
// postMessage is asynchronous: give the fatal message a moment to leave before the process ends.
else setTimeout(() => process.exit(1), 250);
