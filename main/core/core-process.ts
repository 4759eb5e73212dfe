/**
 * Entry of the core process (Electron utilityProcess, forked by main/app): builds the CoreService and
 * serves the API on every MessagePort the shell hands over. Args: --db=FILE --models=DIR.
 */
import { parseCoreArgv } from '../api/shell-protocol.js';
import { CoreService } from './core-service.js';
import { hostApiOnParentPort, type ParentPortLike } from './message-port-host.js';

const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
if (!parentPort) {
  console.error('core-process runs inside an Electron utilityProcess (process.parentPort is missing).');
  process.exit(2);
}

try {
  const args = parseCoreArgv(process.argv.slice(2));
  const core = new CoreService({ dbFile: args.dbFile, modelsDir: args.modelsDir });
  hostApiOnParentPort(core, parentPort);
  const shutdown = () => void core.close().finally(() => process.exit(0));
  process.on('SIGTERM', shutdown);
} catch (err) {
  parentPort.postMessage({ type: 'fatal', message: (err as Error).message });
  process.exit(1);
}
