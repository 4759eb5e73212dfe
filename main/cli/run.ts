// Runs the CLI from source (tests use this through tsx; the installed bin runs the compiled dist/ copy).
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
