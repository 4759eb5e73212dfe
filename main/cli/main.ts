import { PerpetuaError } from '../shared/errors.js';
import { GENERATE_HELP, generateCommand } from './generate-command.js';
import { CHAT_HELP, chatCommand } from './chat-command.js';
import { EVAL_HELP, evalCommand } from './eval-command.js';
import { BENCH_HELP, benchCommand } from './bench-command.js';
import { SESSIONS_HELP, sessionsCommand } from './sessions-command.js';
import { AB_HELP, abCommand } from './ab-command.js';
import { MODELS_HELP, modelsCommand } from './models-command.js';
import { INSPECT_HELP, inspectCommand } from './inspect-command.js';

const COMMANDS: Record<string, { run: (args: string[]) => Promise<void>; help: string }> = {
  generate: { run: generateCommand, help: GENERATE_HELP },
  chat: { run: chatCommand, help: CHAT_HELP },
  eval: { run: evalCommand, help: EVAL_HELP },
  bench: { run: benchCommand, help: BENCH_HELP },
  sessions: { run: sessionsCommand, help: SESSIONS_HELP },
  ab: { run: abCommand, help: AB_HELP },
  models: { run: modelsCommand, help: MODELS_HELP },
  inspect: { run: inspectCommand, help: INSPECT_HELP },
};

function usage(): string {
  return ['Usage:', ...Object.values(COMMANDS).map((c) => '  ' + c.help.replace(/\n/g, '\n  '))].join('\n');
}

/** Entry point: errors meant for the user print as one sentence, with exit code 1 and no stack trace. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`perpetua: unknown command "${name}".\n${usage()}`);
    return 1;
  }
  if (args.includes('--help')) {
    console.log(command.help);
    return 0;
  }
  try {
    await command.run(args);
    return 0;
  } catch (err) {
    if (isUserError(err)) {
      console.error(`perpetua: ${err.message}`);
      return 1;
    }
    console.error(`perpetua: unexpected error: ${(err as Error)?.message ?? err}`);
    if (process.env.PERPETUA_DEBUG) console.error(err);
    return 2;
  }
}

/** Errors whose message is written for the user (one sentence, no stack trace). */
function isUserError(err: unknown): err is Error {
  return err instanceof PerpetuaError || err instanceof RangeError;
}
