/** Manual UI iteration: `npx tsx e2e/serve-fake.ts [seedMessages]` serves the renderer against the fake API. */
import { buildUi } from './build-ui.js';
import { FakeApi } from './fake-api.js';
import { startWebHost } from './web-host.js';

await buildUi();
const host = await startWebHost({ api: new FakeApi({ seedMessages: Number(process.argv[2] ?? 0) }) });
console.log(host.url);
