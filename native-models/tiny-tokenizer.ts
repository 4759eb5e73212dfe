/**
 * A small Llama-style BPE tokenizer (byte fallback, "▁" for spaces) trained deterministically on a built-in
 * text, so the generated test model has a real tokenizer.json that @huggingface/tokenizers loads.
 */
const TRAINING_TEXT = `Once upon a time there was a little girl who lived in a village near the forest.
She liked to walk to the river and watch the water. One day she saw a small bird on a branch.
The bird was sad because it could not find its way home. The girl said: "Do not be sad, I will help you."
They walked together through the trees and over the hills until the sun went down.
Hello! How are you today? I am fine, thank you. What would you like to talk about?
The quick brown fox jumps over the lazy dog. Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000.
A long conversation with a language model can go on for days without running out of context.`;

export const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '<|system|>', '<|user|>', '<|assistant|>'] as const;

export interface TinyTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  vocabSize: number;
}

export const TINY_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";

export function buildTinyTokenizer(vocabSize: number): TinyTokenizerFiles {
  const vocab: string[] = [...SPECIAL_TOKENS];
  for (let b = 0; b < 256; b++) vocab.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  vocab.push('▁');
  for (let c = 33; c < 127; c++) vocab.push(String.fromCharCode(c));
  const merges = trainMerges(vocab, vocabSize);
  for (const [a, b] of merges) vocab.push(a + b);

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    legacy: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000,
    tokenizer_class: 'LlamaTokenizer',
    chat_template: TINY_CHAT_TEMPLATE,
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: vocab.length };
}

/** Classic BPE training: repeatedly merge the most frequent adjacent pair (ties broken by text order). */
function trainMerges(baseVocab: string[], vocabSize: number): [string, string][] {
  const known = new Set(baseVocab);
  const words = new Map<string, number>();
  for (const w of TRAINING_TEXT.split(/\s+/).filter(Boolean)) words.set('▁' + w, (words.get('▁' + w) ?? 0) + 1);
  let split = [...words].map(([w, n]) => ({ parts: [...w], n }));
  const merges: [string, string][] = [];
  while (baseVocab.length + merges.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const { parts, n } of split) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = parts[i] + '\u0000' + parts[i + 1];
        counts.set(key, (counts.get(key) ?? 0) + n);
      }
    }
    let best: string | null = null;
    let bestCount = 0;
    for (const [key, n] of counts) {
      if (n > bestCount || (n === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (!best) break;
    const [a, b] = best.split('\u0000');
    if (known.has(a + b)) {
      // Already a base token: just merge in the corpus without adding a duplicate vocab entry.
    } else {
      merges.push([a, b]);
      known.add(a + b);
    }
    split = split.map(({ parts, n }) => {
      const out: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(parts[i]);
      }
      return { parts: out, n };
    });
  }
  return merges;
}
