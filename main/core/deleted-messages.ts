import { randomUUID } from 'node:crypto';
import { PerpetuaError } from '../shared/errors.js';
import type { MessageRemoval } from '../store/message-removal.js';

/** How many deletions Undo can still reach (an Undo is offered for seconds; each holds its message's text). */
const KEPT = 20;

/** Deleted messages that Undo can put back, in the core's memory only: the newest few, each under a random id. */
export class DeletedMessages {
  private readonly kept = new Map<string, MessageRemoval>();

  keep(removal: MessageRemoval): string {
    const id = randomUUID();
    this.kept.set(id, removal);
    for (const oldest of this.kept.keys()) {
      if (this.kept.size <= KEPT) break;
      this.kept.delete(oldest);
    }
    return id;
  }

  /** The removal under `undoId` of that chat; it stays until `forget` (an Undo refused as busy can be tried again). */
  get(undoId: string, sessionId: number): MessageRemoval {
    const removal = this.kept.get(undoId);
    if (!removal || removal.sessionId !== sessionId) {
      throw new PerpetuaError('That deleted message can no longer be put back.', { code: 'stale' });
    }
    return removal;
  }

  forget(undoId: string): void {
    this.kept.delete(undoId);
  }
}
