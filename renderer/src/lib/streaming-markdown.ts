/**
 * Markdown of an answer that grows as it streams, rendered incrementally: the text is cut into top-level blocks at
 * blank lines outside code fences; a block followed by a new one never changes again, so its sanitized HTML is kept
 * and only the last block (the tail) is rendered on each update. Rendering the whole answer per update made a 20 KB
 * answer cost tens of seconds in total.
 */
import { renderMarkdown } from './markdown.js';

/** An open fence in the tail longer than this streams unhighlighted (highlighted once the answer ends). */
const PLAIN_FENCE_CHARS = 16_000;
/** While streaming, the tail is rendered again only after this many times its last render cost has passed. */
const TAIL_DUTY = 4;

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const BLANK = /^[ \t]*$/;
/** a list item: blank lines between items belong to one (loose) list, so no cut before one */
const LIST_ITEM = /^([-+*]|\d{1,9}[.)])([ \t]|$)/;

interface Fence {
  char: string;
  length: number;
}

/**
 * The offsets, after `from`, where a block ends for good: the start of a line that begins a new top-level block
 * after a blank line (not indented, not a list item, outside any fence). Only whole lines decide, except that the
 * first character of the line after a blank one is enough.
 */
export function blockEnds(text: string, from: number): { ends: number[]; openFence: boolean } {
  const ends: number[] = [];
  let fence: Fence | null = null;
  let afterBlank = false;
  let pos = from;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const whole = nl >= 0;
    const line = text.slice(pos, whole ? nl : text.length);
    if (fence) {
      const m = FENCE.exec(line);
      if (whole && m && m[1]![0] === fence.char && m[1]!.length >= fence.length && BLANK.test(line.slice(m[0].length))) fence = null;
    } else if (whole && BLANK.test(line)) {
      afterBlank = pos > from;
    } else {
      if (afterBlank && /^\S/.test(line) && !LIST_ITEM.test(line)) ends.push(pos);
      afterBlank = false;
      const m = whole ? FENCE.exec(line) : null;
      if (m) fence = { char: m[1]![0]!, length: m[1]!.length };
    }
    if (!whole) break;
    pos = nl + 1;
  }
  return { ends, openFence: fence !== null };
}

/** One message's renderer: call `render` with its whole text on every update. */
export class StreamingMarkdown {
  private stableEnd = 0;
  private stablePrefix = '';
  private stable: string[] = [];
  private tailText: string | null = null;
  private tailStreaming = false;
  private tailHtml = '';
  private tailCostMs = 0;
  private tailAt = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Sanitized HTML for the text; `streaming`: the answer is still being written. */
  render(text: string, streaming: boolean): string {
    // an edited or replaced text (a new version, a collapsed preview): start over
    if (text.length < this.stableEnd || !text.startsWith(this.stablePrefix)) this.reset();
    const { ends, openFence } = blockEnds(text, this.stableEnd);
    for (const end of ends) {
      this.stable.push(renderMarkdown(text.slice(this.stableEnd, end)));
      this.stableEnd = end;
    }
    if (ends.length) this.stablePrefix = text.slice(0, this.stableEnd);
    const tail = text.slice(this.stableEnd);
    if (tail !== this.tailText || streaming !== this.tailStreaming) {
      const start = this.now();
      // a long answer streams faster than its tail renders: skip updates so rendering takes at most 1/TAIL_DUTY of the time
      if (streaming && this.tailText !== null && ends.length === 0 && start - this.tailAt < this.tailCostMs * TAIL_DUTY) return this.html();
      const plain = streaming && openFence && tail.length > PLAIN_FENCE_CHARS;
      this.tailHtml = renderMarkdown(tail, streaming, { plain });
      this.tailText = tail;
      this.tailStreaming = streaming;
      this.tailAt = this.now();
      this.tailCostMs = this.tailAt - start;
    }
    return this.html();
  }

  private html(): string {
    return this.stable.length ? this.stable.join('') + this.tailHtml : this.tailHtml;
  }

  private reset(): void {
    this.stableEnd = 0;
    this.stablePrefix = '';
    this.stable = [];
    this.tailText = null;
    this.tailHtml = '';
    this.tailCostMs = 0;
  }
}
