/**
 * Starts the core inside its process: loads the core's modules, opens the database, serves the API on the
 * parent port. Everything (the module imports included, where a native addon built for another runtime
 * fails) runs inside one try, so any start-up error reaches the shell as a `fatal` message with a sentence.
 */
import { parseCoreArgv, type CoreStatusMessage } from '../api/shell-protocol.js';
import { PerpetuaError } from '../shared/errors.js';
import type { CoreService } from './core-service.js';
import type { ParentPortLike } from './message-port-host.js';

export interface RunningCore {
  close(): Promise<void>;
}

/** Loads the modules of the core (a seam for tests; the default is the real CoreService). */
export type CoreLoader = () => Promise<{ CoreService: typeof CoreService }>;

const loadCoreService: CoreLoader = () => import('./core-service.js');

export async function startCore(
  parentPort: ParentPortLike,
  argv: readonly string[],
  load: CoreLoader = loadCoreService,
): Promise<RunningCore | null> {
  try {
    const args = parseCoreArgv(argv);
    const [{ CoreService }, { hostApiOnParentPort }] = await Promise.all([load(), import('./message-port-host.js')]);
    // upgrade the database first, telling the shell how it goes: a new search index over every message takes seconds
    const { openDatabase } = await import('../store/database.js');
    openDatabase(args.dbFile, {
      onMigrationProgress: (p) => parentPort.postMessage({ type: 'migrating', ...p } satisfies CoreStatusMessage),
    }).close();
    const core = new CoreService({ dbFile: args.dbFile, modelsDir: args.modelsDir, downloadDir: args.downloadDir, appEngine: true });
    const host = hostApiOnParentPort(core, parentPort, undefined, (method, params) => core.beginRequest(method, params));
    return {
      async close() {
        host.close();
        await core.close();
      },
    };
  } catch (err) {
    parentPort.postMessage(fatalMessage(err));
    return null;
  }
}

/** Our errors are already a sentence for the user; anything else is said to be unexpected. */
export function fatalMessage(err: unknown): CoreStatusMessage {
  const message =
    err instanceof PerpetuaError ? err.message : `The engine could not start: ${(err as Error)?.message ?? String(err)}`;
  return { type: 'fatal', message };
}
