import { PerpetuaError } from '../shared/errors.js';

/** Why a chat template gave no text: it cannot be parsed, it ran past its budget, or it refused the conversation. */
export type TemplateFailure = 'template_syntax' | 'template_budget' | 'template_refused';

/**
 * A chat template that gave no text. `failure` says which way; the code says what the user can do: a template that
 * refuses a conversation (raise_exception: roles must alternate, …) is about the input, the others about the model.
 */
export class TemplateError extends PerpetuaError {
  constructor(
    readonly failure: TemplateFailure,
    message: string,
  ) {
    super(message, { code: failure === 'template_refused' ? 'invalid_input' : 'model_unusable' });
  }
}
