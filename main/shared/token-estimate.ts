/**
 * Token counts estimated from the characters of a text, script by script. One rate for every character (the old
 * "4 characters a token") is right for English only: a Han character is one to three tokens where an English word of
 * four letters is often one, so a long Chinese paste was estimated at a tenth of its size. Each model's rates are
 * measured once on its own tokenizer (calibrateTokenRates); DEFAULT_TOKEN_RATES stands in until they are known.
 * Pure and dependency-free: the renderer imports it too.
 */

/** Character classes that tokenizers treat differently. */
export const SCRIPTS = ['han', 'kana', 'hangul', 'latin', 'digit', 'space', 'punct', 'widePunct', 'other'] as const;
export type Script = (typeof SCRIPTS)[number];
export type ScriptCounts = Record<Script, number>;
/** Tokens per character of each class. Whitespace costs 0: every BPE and SentencePiece vocabulary folds it into the next word. */
export type TokenRates = Record<Script, number>;

/**
 * Rates of a typical multilingual BPE vocabulary (GPT-4-, Llama-3-, Qwen-style: a common Han character about one
 * token, English about four letters a token). Used before a model's own rates are measured.
 */
export const DEFAULT_TOKEN_RATES: TokenRates = {
  han: 1.0,
  kana: 1.0,
  hangul: 0.9,
  latin: 0.3,
  digit: 0.5,
  space: 0,
  punct: 0.7,
  widePunct: 1.0,
  other: 1.5,
};

const HAN = /[\p{Script=Han}\u3005\u3007]/u;
const KANA = /[\p{Script=Hiragana}\p{Script=Katakana}\u30fc]/u;
const HANGUL = /\p{Script=Hangul}/u;
const LETTER = /[\p{L}\p{M}]/u;
const DIGIT = /\p{N}/u;
const SPACE = /\s/u;
const PUNCT = /[\p{P}\p{S}]/u;

export function scriptOf(ch: string): Script {
  const c = ch.codePointAt(0)!;
  // fast paths for ASCII, which most text is mostly made of
  if (c < 0x80) {
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return 'latin';
    if (c >= 0x30 && c <= 0x39) return 'digit';
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) return 'space';
    return 'punct';
  }
  if (HAN.test(ch)) return 'han';
  if (KANA.test(ch)) return 'kana';
  if (HANGUL.test(ch)) return 'hangul';
  if (LETTER.test(ch)) return 'latin';
  if (DIGIT.test(ch)) return 'digit';
  if (SPACE.test(ch)) return 'space';
  // emoji are symbols too, but tokenizers spend several byte tokens on each
  if (c >= 0x1f000) return 'other';
  // CJK and full-width punctuation (，。「」…) is three UTF-8 bytes: byte-level vocabularies pay more for it than for ASCII's
  if (PUNCT.test(ch)) return 'widePunct';
  return 'other';
}

/** How many characters (code points) of each class the text holds. */
export function countScripts(text: string): ScriptCounts {
  const counts: ScriptCounts = { han: 0, kana: 0, hangul: 0, latin: 0, digit: 0, space: 0, punct: 0, widePunct: 0, other: 0 };
  for (const ch of text) counts[scriptOf(ch)]++;
  return counts;
}

/** Characters read exactly before the rest is extrapolated: a 10 MB paste costs no more than this. */
const SAMPLE_CHARS = 200_000;

/** The estimated token count of `text` under `rates` (default: DEFAULT_TOKEN_RATES). */
export function estimateTokens(text: string, rates: TokenRates = DEFAULT_TOKEN_RATES): number {
  if (text.length === 0) return 0;
  const sample = text.length > SAMPLE_CHARS ? text.slice(0, SAMPLE_CHARS) : text;
  const counts = countScripts(sample);
  let tokens = 0;
  for (const s of SCRIPTS) tokens += counts[s] * rates[s];
  return Math.ceil(tokens * (text.length / sample.length));
}

/**
 * Texts that are (almost) all one class, to measure a tokenizer's rate for it (none for whitespace, see TokenRates). Written for this purpose; long enough
 * that merges across a text's start and end do not matter.
 */
export const CALIBRATION_TEXTS: Record<Script, string> = {
  han:
    '注意力汇聚是流式语言模型的关键我们今天讨论滑动窗口模型只保留最近的键值缓存和最前面的几个词元长对话也不会耗尽内存' +
    '春天来了河边的柳树发出了新芽孩子们在草地上放风筝他打开窗户看见远处的山在雾中若隐若现老人坐在门口慢慢地喝着热茶' +
    '城市的夜晚灯火通明街上的行人来来往往书店里还有几个学生在安静地读书厨房里飘出饭菜的香味一家人围坐在桌前说说笑笑',
  kana:
    'これはとてもながいぶんしょうですわたしたちはきょうすらいでぃんぐうぃんどうについてはなしますあしたはあめがふるかもしれません' +
    'アテンションシンクハストリーミングゲンゴモデルノカギデスキョウハスライディングウィンドウヲハナシマスコーヒーヲノミマショウ',
  hangul:
    '어텐션싱크는스트리밍언어모델의핵심입니다오늘은슬라이딩윈도우를이야기합니다모델은최근의키값캐시와처음몇개의토큰만보관합니다' +
    '봄이오면강가의버드나무에새싹이돋고아이들은풀밭에서연을날립니다그는창문을열고안개속의먼산을바라보았습니다',
  latin:
    'The attention sink keeps the first tokens of a conversation in the cache while a sliding window holds the most recent ' +
    'ones so that a long chat never runs out of memory and the model stays fluent Spring came early that year and the ' +
    'children flew their kites over the meadow while an old man sat by the door drinking tea and watching the river',
  digit: '3141592653589793238462643383279502884197169399375105820974944592307816406286208998628034825342117067982148086513282306647',
  space: '',
  punct: ',.;:!?()[]{}<>"\'-_/\\|@#$%^&*+=~`,.;:!?()[]{}<>"\'-_/\\|@#$%^&*+=~`',
  widePunct: '，。！？、；：“”（）《》「」『』…—，。！？、；：“”（）《》「」『』…—',
  other: '🎉🙂👍🚀🌸🍵📚💡🔥✨🎵🌙⭐🍎🐱🐶🌈🎈🧠🤖📝🗂️⏳🔍🧩🎯🏔️🌊🍜🥟',
};

/**
 * Measures a tokenizer's rate for each class of characters on CALIBRATION_TEXTS: tokens per character of the class the
 * text is written in (the spaces between English words are paid for by its letters). `count` returns how many tokens
 * a text is, without special tokens. A class without a text, or that the tokenizer does not count, keeps its default.
 */
export function calibrateTokenRates(count: (text: string) => number): TokenRates {
  const rates = { ...DEFAULT_TOKEN_RATES };
  for (const s of SCRIPTS) {
    const text = CALIBRATION_TEXTS[s];
    const chars = countScripts(text)[s];
    if (chars === 0) continue;
    const tokens = count(text);
    if (Number.isFinite(tokens) && tokens > 0) rates[s] = tokens / chars;
  }
  return rates;
}
