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
/** A dense cache holds the model's whole context: more tokens would sit at positions it was never trained for. */
export class ContextFullError extends PerpetuaError {
  constructor(readonly contextLength: number) {
    super(contextFullSentence(contextLength));
  }
}

export function contextFullSentence(contextLength: number): string {
  return `The dense cache holds the model's whole ${contextLength}-token context, so it stops here; start a new chat or switch to the sink policy to keep going.`;
}

export class GenerationCancelled extends PerpetuaError {
  constructor() {
    super('Generation was cancelled.');
  }
}
