import { PerpetuaError } from '../shared/errors.js';

/** The model folder cannot be loaded: missing or unreadable files, or a graph onnxruntime refuses. */
export class ModelLoadError extends PerpetuaError {
  override readonly code = 'model_unusable';
}

/** The graph loads but Perpetua cannot manage its KV cache (non-standard inputs, other KV dtype or shape). */
export class UnsupportedModelError extends PerpetuaError {
  override readonly code = 'model_unusable';
}

/** The tokenizer and the model do not belong together. */
export class TokenizerMismatchError extends PerpetuaError {
  override readonly code = 'model_unusable';
}

/** The graph loaded but onnxruntime failed while computing with it (a shape it cannot take, a kernel missing). */
export class ModelRunError extends PerpetuaError {
  override readonly code = 'model_unusable';
}
