import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../engine/text-tokenizer.js';
import { builtinModelDir, packageRoot } from '../models/builtin-model.js';
import { countScripts, DEFAULT_TOKEN_RATES, estimateTokens } from '../shared/token-estimate.js';
import { tokenRatesOf } from './token-rates.js';

/** Chinese prose not used for calibration (the calibration texts are in token-estimate.ts). */
const ZH_INLINE =
  '作者自云曾历过一番梦幻之后，故将真事隐去，而借通灵之说，撰此《石头记》一书也。故曰“甄士隐”云云。但书中所记何事何人？' +
  '自又云：“今风尘碌碌，一事无成，忽念及当日所有之女子，一一细考较去，觉其行止见识，皆出于我之上。何我堂堂须眉，诚不若彼裙钗哉？' +
  '实愧则有余，悔又无益之大无可如何之日也！当此，则自欲将已往所赖天恩祖德，锦衣纨袴之时，饫甘餍肥之日，背父兄教育之恩，' +
  '负师友规谈之德，以至今日一技无成，半生潦倒之罪，编述一集，以告天下人：我之罪固不免，然闺阁中本自历历有人，万不可因我之不肖，' +
  '自护己短，一并使其泯灭也。虽今日之茅椽蓬牖，瓦灶绳床，其晨夕风露，阶柳庭花，亦未有妨我之襟怀笔墨者。';
const ZH_CORPUS = join(packageRoot(), '..', 'shared', 'corpora', 'zh', 'hongloumeng-ch01-20.txt');

function builtinTokenizer(): TextTokenizer {
  const dir = builtinModelDir();
  const json = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  return new TextTokenizer(json('tokenizer.json'), json('tokenizer_config.json'));
}

describe('token estimates per script', () => {
  it('counts characters by script, emoji and surrogate pairs as one character each', () => {
    expect(countScripts('滑动窗口 KV缓存，ひらがな한국어 12 🎉')).toEqual({
      han: 6, kana: 4, hangul: 3, latin: 2, digit: 2, space: 3, punct: 0, widePunct: 1, other: 1,
    });
  });

  it('a Chinese text is estimated within 20 % of the built-in model\'s own tokenizer, once calibrated on it', () => {
    const tok = builtinTokenizer();
    const rates = tokenRatesOf(tok);
    const texts = [ZH_INLINE, ...(existsSync(ZH_CORPUS) ? [readFileSync(ZH_CORPUS, 'utf8').slice(20_000, 40_000)] : [])];
    for (const text of texts) {
      const real = tok.encode(text).length;
      const estimate = estimateTokens(text, rates);
      // the issue asks for 20 %; measured: about 2 % on 红楼梦 (full-width punctuation counted as the 3-byte characters it is)
      expect(Math.abs(estimate - real) / real, `${estimate} estimated, ${real} real`).toBeLessThan(0.1);
      // the old estimate (characters ÷ 4) was off by an order of magnitude for Chinese
      expect(Math.abs(Math.ceil(text.length / 4) - real) / real).toBeGreaterThan(0.5);
    }
  });

  it('English and mixed text stay within 20 % too', () => {
    const tok = builtinTokenizer();
    const rates = tokenRatesOf(tok);
    const en = 'It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, his chin nuzzled into ' +
      'his breast in an effort to escape the vile wind, slipped quickly through the glass doors of Victory Mansions, though ' +
      'not quickly enough to prevent a swirl of gritty dust from entering along with him.';
    const mixed = `${ZH_INLINE.slice(0, 150)} ${en.slice(0, 200)} 2026年12月7日`;
    for (const text of [en, mixed]) {
      const real = tok.encode(text).length;
      expect(Math.abs(estimateTokens(text, rates) - real) / real, text.slice(0, 20)).toBeLessThan(0.2);
    }
  });

  it('measures a tokenizer once', () => {
    const tok = builtinTokenizer();
    expect(tokenRatesOf(tok)).toBe(tokenRatesOf(tok));
    expect(tokenRatesOf(tok).han).toBeGreaterThan(0);
  });

  it('without a model the defaults count a Han character as a token, not a quarter of one', () => {
    expect(estimateTokens('注意力汇聚是流式语言模型的关键')).toBe(15);
    expect(estimateTokens('')).toBe(0);
    expect(DEFAULT_TOKEN_RATES.han).toBeGreaterThan(DEFAULT_TOKEN_RATES.latin);
    // a long paste is extrapolated from its start: same answer as counting all of it, for uniform text
    const long = '滑动窗口'.repeat(100_000);
    expect(estimateTokens(long)).toBe(400_000);
  });
});
