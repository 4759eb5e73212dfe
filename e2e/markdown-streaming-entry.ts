// What markdown-streaming.test.ts bundles for the browser: the incremental renderer and the whole-text one.
export { StreamingMarkdown, blockEnds } from '../renderer/src/lib/streaming-markdown.js';
export { renderMarkdown } from '../renderer/src/lib/markdown.js';
