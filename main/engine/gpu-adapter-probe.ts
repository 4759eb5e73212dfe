// Run by probeWebGpuAdapter as a child process: prints the adapter as JSON on stdout (Dawn's own warnings go to a
// stderr nobody shows).
import { requestAdapter } from './gpu-adapter.js';

process.stdout.write(JSON.stringify(await requestAdapter()));
