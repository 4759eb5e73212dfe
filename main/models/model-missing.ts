import { PerpetuaError } from '../shared/errors.js';

/** A library model whose folder is gone: its chats can be read, not run, until it is located or they change model. */
export function modelMissingError(name: string, dir: string): PerpetuaError {
  return new PerpetuaError(`The model folder of "${name}" is missing (${dir}): locate the folder, or switch the chat to another model.`, {
    code: 'model_missing',
  });
}
