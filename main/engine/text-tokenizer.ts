import { Tokenizer } from '@huggingface/tokenizers';
import { vetTokenizerRegexes } from './tokenizer-regex-vet.js';

/** The model's tokenizer (tokenizer.json + tokenizer_config.json) with the few operations the engine needs. */
export class TextTokenizer {
  private readonly tok: Tokenizer;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly specialIds: Set<number>;
  /** one past the largest token id the tokenizer can produce */
  readonly vocabSize: number;
  /** the normalizer puts "▁" before every text (SentencePiece style), so a text piece that starts a word needs no space */
  private readonly prependsSpace: boolean;

  constructor(tokenizerJson: Record<string, any>, tokenizerConfig: Record<string, any>) {
    vetTokenizerRegexes(tokenizerJson); // a pattern that backtracks would freeze the core on some prompt
    this.tok = new Tokenizer(tokenizerJson as any, tokenizerConfig as any);
    this.bosToken = tokenText(tokenizerConfig.bos_token);
    this.eosToken = tokenText(tokenizerConfig.eos_token);
    const added = (tokenizerJson.added_tokens ?? []) as { id: number; special?: boolean }[];
    this.specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    const vocab = tokenizerJson.model?.vocab;
    const ids: number[] = Array.isArray(vocab)
      ? [vocab.length - 1]
      : Object.values((vocab ?? {}) as Record<string, number>);
    // a loop, not Math.max(...ids): spreading 150K ids overflows the stack
    let max = -1;
    for (const id of ids) if (id > max) max = id;
    for (const t of added) if (t.id > max) max = t.id;
    this.vocabSize = max + 1;
    this.prependsSpace = prependsMetaspace(tokenizerJson);
  }

  /**
   * Text → ids, a piece of about `pieceChars` at a time, for texts too long to tokenize whole: BPE without a
   * pre-tokenizer treats a whole paste as one word (minutes and gigabytes for 10 MB). Pieces end at a space
   * between two words, so each piece tokenizes as it would inside the whole text (but for merges across that
   * space, which SentencePiece-style vocabularies rarely have). Yields each piece's ids and its length in chars.
   */
  *encodePieces(text: string, addSpecial = false, pieceChars = 16_384): Generator<{ ids: number[]; chars: number }> {
    for (let at = 0, first = true; at < text.length; first = false) {
      let end = Math.min(text.length, at + pieceChars);
      if (end < text.length) {
        const space = text.lastIndexOf(' ', end);
        if (space > at + pieceChars / 2 && text[space - 1] !== ' ' && text[space + 1] !== ' ') end = space;
        else if (isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
      }
      // a normalizer that prepends "▁" restores the space the cut removed; byte-level ones keep it in the next piece
      const next = end < text.length && text[end] === ' ' && this.prependsSpace ? end + 1 : end;
      yield { ids: this.encode(text.slice(at, end), addSpecial && first), chars: next - at };
      at = next;
    }
  }

  /** Text → ids. `addSpecial` adds what the tokenizer's post-processor adds (BOS for Llama). */
  encode(text: string, addSpecial = false): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecial }).ids;
  }

  decode(ids: number[], skipSpecial = true): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: skipSpecial });
  }

  tokenId(text: string | null): number | null {
    if (!text) return null;
    const id = this.tok.token_to_id(text);
    return id === undefined || id === null ? null : id;
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** A Prepend("▁") normalizer or a Metaspace pre-tokenizer that adds a prefix space. */
function prependsMetaspace(json: Record<string, any>): boolean {
  const all = (node: any): any[] => (node ? [node, ...(node.normalizers ?? []), ...(node.pretokenizers ?? [])] : []);
  return (
    all(json.normalizer).some((n) => n?.type === 'Prepend' && n.prepend === '\u2581') ||
    all(json.pre_tokenizer).some((p) => p?.type === 'Metaspace' && (p.prepend_scheme ?? (p.add_prefix_space ? 'always' : 'never')) !== 'never')
  );
}

function tokenText(t: unknown): string | null {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string') {
    return (t as { content: string }).content;
  }
  return null;
}

/**
 * Turns a stream of token ids into text deltas. Decodes each new token together with a few previous ones,
 * so tokenizers that strip a leading space or fuse byte-fallback pieces still produce the exact text, and
 * holds back an incomplete UTF-8 sequence (U+FFFD at the end) until its remaining bytes arrive.
 */
export class StreamingDetokenizer {
  private context: number[] = [];
  private pending: number[] = [];

  /** `context`: tokens before the stream (the prompt's end), so the first new token decodes as a continuation. */
  constructor(
    private readonly tokenizer: TextTokenizer,
    context: number[] = [],
    private readonly contextSize = 6,
  ) {
    this.context = context.slice(-contextSize);
  }

  push(id: number): string {
    this.pending.push(id);
    const prefix = this.tokenizer.decode(this.context);
    const full = this.tokenizer.decode([...this.context, ...this.pending]);
    if (full.endsWith('\uFFFD') && this.pending.length < 4) return '';
    const delta = full.startsWith(prefix) ? full.slice(prefix.length) : full;
    this.context = [...this.context, ...this.pending].slice(-this.contextSize);
    this.pending = [];
    return delta;
  }

  /** Text still held back (an incomplete character at the end of the stream). */
  flush(): string {
    if (this.pending.length === 0) return '';
    const prefix = this.tokenizer.decode(this.context);
    const full = this.tokenizer.decode([...this.context, ...this.pending]);
    this.pending = [];
    return full.startsWith(prefix) ? full.slice(prefix.length) : full;
  }
}
