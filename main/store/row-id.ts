import { NotFoundError, type EntityKind } from './errors.js';

/**
 * A row id from the API, where ids are strings: only the digits the core itself writes ("12"). Number() would
 * also take " 12", "0x0c", "12.0" and "1.2e1", so one row would answer to many names.
 */
export function parseRowId(id: string, entity: EntityKind): number {
  if (!/^[1-9]\d{0,15}$/.test(id) || !Number.isSafeInteger(Number(id))) throw new NotFoundError(entity, id);
  return Number(id);
}

/** An id the core holds (a number) or one that came through the API (a string, checked by parseRowId). */
export function toRowId(id: string | number, entity: EntityKind): number {
  return typeof id === 'number' ? id : parseRowId(id, entity);
}
