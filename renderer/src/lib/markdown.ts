/**
 * Markdown for model answers: markdown-it with raw HTML off (a `<script>` or `<img onerror>` in an answer is text),
 * highlight.js for fenced code, a Copy button on every code block, and DOMPurify over the result as a second wall.
 */
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

const languages = { bash, c, cpp, css, go, java, javascript, json, markdown, python, rust, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: true });

/** What a render is asked for: `plain` leaves code unhighlighted (a long fence still streaming: highlighting it whole per update stalls the page). */
/** Code longer than this shows unhighlighted: highlight.js takes seconds over a megabyte, all on the page's thread. */
const HIGHLIGHT_MAX_CHARS = 200_000;

interface RenderEnv {
  plain?: boolean;
}

md.renderer.rules.fence = (tokens, idx, _options, renderEnv) => {
  const env = renderEnv as RenderEnv | undefined;
  const token = tokens[idx];
  const lang = token.info.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  const known = lang && !env?.plain && token.content.length <= HIGHLIGHT_MAX_CHARS && hljs.getLanguage(lang) ? lang : '';
  const body = known ? hljs.highlight(token.content, { language: known, ignoreIllegals: true }).value : md.utils.escapeHtml(token.content);
  const label = md.utils.escapeHtml(lang || 'text');
  return (
    `<div class="code-block"><div class="code-head"><span class="code-lang">${label}</span>` +
    `<button type="button" class="copy-code" aria-label="Copy code" data-testid="copy-code">Copy</button></div>` +
    `<pre><code class="hljs${known ? ` language-${known}` : ''}">${body}</code></pre></div>`
  );
};
md.renderer.rules.code_block = md.renderer.rules.fence;

// A numbered list's numbers sit in its left padding: it grows with their digits (markdown.css), else "1000." sticks
// out of the message card.
md.renderer.rules.ordered_list_open = (tokens, idx, options, _env, self) => {
  const token = tokens[idx];
  const start = Number(token.attrGet('start') ?? 1);
  let items = 0;
  for (let i = idx + 1; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type === 'ordered_list_close' && t.level === token.level) break;
    if (t.type === 'list_item_open' && t.level === token.level + 1) items++;
  }
  const digits = String(Math.max(start, start + items - 1)).length;
  if (digits > 2) token.attrJoin('class', `digits-${Math.min(digits, 7)}`);
  return self.renderToken(tokens, idx, options);
};

/**
 * While an answer streams, its last line is held back when it may be the start of a code fence (backticks or
 * tildes, no newline yet): otherwise "``" shows as text, then turns into a code block a token later.
 */
export function stableStreamingText(text: string): string {
  const lineStart = text.lastIndexOf('\n') + 1;
  return /^ {0,3}(`|~)/.test(text.slice(lineStart)) ? text.slice(0, lineStart) : text;
}

/** Sanitized HTML for a Markdown text. An unclosed fence renders as a code block to the end (markdown-it's rule). */
export function renderMarkdown(text: string, streaming = false, env: RenderEnv = {}): string {
  const source = streaming ? stableStreamingText(text) : text;
  return DOMPurify.sanitize(md.render(source, { ...env }), { USE_PROFILES: { html: true } });
}

/** The code of the block a copy-code button belongs to. */
export function codeOfCopyButton(button: Element): string | null {
  return button.closest('.code-block')?.querySelector('pre code')?.textContent ?? null;
}
