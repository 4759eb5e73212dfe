import { PerpetuaError } from '../shared/errors.js';
import { terminalSafe } from './terminal-text.js';
import { fromSqliteError } from '../store/sqlite-errors.js';

interface Command {
  run: (args: string[]) => Promise<void>;
  help: string;
}

// A command's module loads when that command runs (or for the usage text): `bench` alone pulls in the graph
// builder, the shapes and the peers, a second of start-up every other command should not pay.
const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: () => import('./generate-command.js').then((m) => ({ run: m.generateCommand, help: m.GENERATE_HELP })),
  chat: () => import('./chat-command.js').then((m) => ({ run: m.chatCommand, help: m.CHAT_HELP })),
  eval: () => import('./eval-command.js').then((m) => ({ run: m.evalCommand, help: m.EVAL_HELP })),
  bench: () => import('./bench-command.js').then((m) => ({ run: m.benchCommand, help: m.BENCH_HELP })),
  sessions: () => import('./sessions-command.js').then((m) => ({ run: m.sessionsCommand, help: m.SESSIONS_HELP })),
  ab: () => import('./ab-command.js').then((m) => ({ run: m.abCommand, help: m.AB_HELP })),
  models: () => import('./models-command.js').then((m) => ({ run: m.modelsCommand, help: m.MODELS_HELP })),
  export: () => import('./export-command.js').then((m) => ({ run: m.exportCommand, help: m.EXPORT_HELP })),
  import: () => import('./import-command.js').then((m) => ({ run: m.importCommand, help: m.IMPORT_HELP })),
  inspect: () => import('./inspect-command.js').then((m) => ({ run: m.inspectCommand, help: m.INSPECT_HELP })),
  serve: () => import('./serve-command.js').then((m) => ({ run: m.serveCommand, help: m.SERVE_HELP })),
};

async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  return ['Usage:', ...commands.map((c) => '  ' + c.help.replace(/\n/g, '\n  '))].join('\n');
}

/** Entry point: errors meant for the user print as one sentence, with exit code 1 and no stack trace. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === 'help') {
    console.log(await usage());
    return name ? 0 : 1;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    console.error(`perpetua: unknown command "${name}".\n${await usage()}`);
    return 1;
  }
  const command = await load();
  if (args.includes('--help')) {
    console.log(command.help);
    return 0;
  }
  try {
    await command.run(args);
    return 0;
  } catch (thrown) {
    // a database failure that reached here untyped (e.g. the disk filled up mid-command) still reads as a sentence
    const err = fromSqliteError(thrown, dbArgument(args)) ?? thrown;
    if (isUserError(err)) {
      console.error(`perpetua: ${terminalSafe(err.message)}`);
      return 1;
    }
    console.error(`perpetua: unexpected error: ${terminalSafe(String((err as Error)?.message ?? err))}`);
    if (process.env.PERPETUA_DEBUG) console.error(err);
    return 2;
  }
}

function dbArgument(args: string[]): string {
  const at = args.indexOf('--db');
  return at >= 0 && args[at + 1] ? args[at + 1] : '(given with --db)';
}

/** Errors whose message is written for the user (one sentence, no stack trace). */
function isUserError(err: unknown): err is Error {
  return err instanceof PerpetuaError || err instanceof RangeError;
}
