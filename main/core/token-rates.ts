import type { TextTokenizer } from '../engine/text-tokenizer.js';
import { calibrateTokenRates, type TokenRates } from '../shared/token-estimate.js';

const measured = new WeakMap<TextTokenizer, TokenRates>();

/**
 * The tokens-per-character rates of a model's own tokenizer, measured once per loaded tokenizer (a few hundred
 * characters to encode), so the app's estimates (paste warning, system prompt) are right for this model and script.
 */
export function tokenRatesOf(tokenizer: TextTokenizer): TokenRates {
  let rates = measured.get(tokenizer);
  if (!rates) {
    rates = calibrateTokenRates((text) => tokenizer.encode(text).length);
    measured.set(tokenizer, rates);
  }
  return rates;
}
