/**
 * The layers of ../shared/DESIGN.md, enforced by build/lint-layers.mjs (run by main/layering.test.ts in `npm test`,
 * and by hand: `npm run lint:layers`).
 * Tests are left out on the importing side: they put real parts of several layers together on purpose.
 * `forbidden` holds for every import, types included; `runtimeOnly` holds for what survives compilation
 * (the layering test checks it on tsc's output), which is how "types only" is told apart.
 */
const notTest = '\\.test\\.ts$|/fixtures/';
const ours = '^(main|native-models|renderer|e2e)/';
/** a layer folder, in sources or in compiled output (`<out>/main/cache/x.js`) */
const layer = (...names) => `(^|/)main/(${names.join('|')})/`;

const forbidden = [
  {
    name: 'no-circular',
    comment: 'No import cycles between modules.',
    severity: 'error',
    from: { pathNot: notTest },
    to: { circular: true },
  },
  {
    name: 'shared-imports-nothing',
    comment: 'main/shared is what every layer may import: it imports nothing of ours.',
    severity: 'error',
    from: { path: layer('shared'), pathNot: notTest },
    to: { path: ours, pathNot: layer('shared') },
  },
  {
    name: 'policy-imports-shared-only',
    comment: 'main/policy is the policy as data: it imports only main/shared.',
    severity: 'error',
    from: { path: layer('policy'), pathNot: notTest },
    to: { path: ours, pathNot: layer('policy', 'shared') },
  },
  {
    name: 'api-is-the-contract',
    comment: 'main/api (the contract) imports only policy and shared.',
    severity: 'error',
    from: { path: layer('api'), pathNot: notTest },
    to: { path: ours, pathNot: layer('api', 'policy', 'shared') },
  },
  {
    name: 'engine-is-the-bottom',
    comment: 'main/engine runs models; it never imports cache, core, store, app or anything above it.',
    severity: 'error',
    from: { path: layer('engine'), pathNot: notTest },
    to: { path: ours, pathNot: layer('engine', 'policy', 'shared') },
  },
  {
    name: 'cache-over-engine',
    comment: 'main/cache implements the policies over the engine; nothing above it.',
    severity: 'error',
    from: { path: layer('cache'), pathNot: notTest },
    to: { path: ours, pathNot: layer('cache', 'engine', 'policy', 'shared') },
  },
  {
    name: 'store-is-plain-data',
    comment: 'main/store keeps data: it imports only policy and shared.',
    severity: 'error',
    from: { path: layer('store'), pathNot: notTest },
    to: { path: ours, pathNot: layer('store', 'policy', 'shared') },
  },
  {
    name: 'nothing-imports-cli',
    comment: 'The command line is an entry point: nothing imports it.',
    severity: 'error',
    from: { pathNot: `${notTest}|${layer('cli')}` },
    to: { path: layer('cli') },
  },
  {
    name: 'nothing-imports-app',
    comment: 'The Electron shell is an entry point: nothing imports it.',
    severity: 'error',
    from: { pathNot: `${notTest}|${layer('app')}` },
    to: { path: layer('app') },
  },
  {
    name: 'nothing-imports-server',
    comment: 'The OpenAI-compatible server is a surface, like the shell: nothing imports it.',
    severity: 'error',
    from: { pathNot: `${notTest}|${layer('server', 'cli', 'app')}` },
    to: { path: layer('server') },
  },
  {
    name: 'server-is-a-surface',
    comment: 'main/server speaks to the core through the API only: it imports api, policy and shared.',
    severity: 'error',
    from: { path: layer('server'), pathNot: notTest },
    to: { path: ours, pathNot: layer('server', 'api', 'policy', 'shared') },
  },
  {
    name: 'runtime-layers-leave-the-toolkit-alone',
    comment: 'native-models is a toolkit (graphs, converters, training): the layers the app runs never import it.',
    severity: 'error',
    from: { path: layer('shared', 'policy', 'api', 'engine', 'cache', 'store', 'core', 'app', 'preload'), pathNot: notTest },
    to: { path: '^native-models/|(^|/)native-models/' },
  },
  {
    name: 'renderer-sees-the-contract-only',
    comment: 'The renderer imports main/api, main/policy and main/shared, nothing else of the core.',
    severity: 'error',
    from: { path: '^renderer/' },
    to: { path: '^(main|native-models)/', pathNot: layer('api', 'policy', 'shared') },
  },
];

const runtimeOnly = [
  {
    name: 'cache-imports-engine-types-only',
    comment: 'main/cache imports the engine as types, and its KV data modules (engine/layer-kv, engine/kv-dtype), nothing that runs models.',
    severity: 'error',
    from: { path: layer('cache') },
    to: { path: layer('engine'), pathNot: '(^|/)main/engine/(layer-kv|kv-dtype)\\.js$' },
  },
];

module.exports = {
  forbidden,
  runtimeOnly,
  options: {
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|generated)/' },
    tsPreCompilationDeps: true,
  },
};
