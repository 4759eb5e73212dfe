/**
 * How large each file a model folder names may be. Read whole and parsed as JSON or text, each is bounded well above
 * the largest real one (tokenizer.json: Gemma 3's is ~33 MB) and far below what would cost gigabytes to parse.
 */
export const MODEL_FILE_LIMITS = {
  /** config.json, genai_config.json, generation_config.json: a few KB in practice */
  config: 4 * 2 ** 20,
  'tokenizer.json': 64 * 2 ** 20,
  /** some carry every added token and a template or two */
  'tokenizer_config.json': 16 * 2 ** 20,
  'chat_template.jinja': 1 * 2 ** 20,
  /** graphs and their external data: checked for kind and place, not size */
  weights: Number.MAX_SAFE_INTEGER,
} as const;
