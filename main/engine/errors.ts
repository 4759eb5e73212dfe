/** Errors that reach the user as one sentence; the CLI prints `message` without a stack trace. */
export class PerpetuaError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ModelLoadError extends PerpetuaError {}
export class UnsupportedModelError extends PerpetuaError {}
export class TokenizerMismatchError extends PerpetuaError {}
export class GenerationCancelled extends PerpetuaError {
  constructor() {
    super('Generation was cancelled.');
  }
}
