import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { errorCode } from '../shared/errors.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-msg-delete-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'Zanzibar-7731';

async function chatWithSecret() {
  const core = new CoreService({ dbFile: join(dir, 'p.db'), maxAnswerTokens: 4 });
  const model = await core.modelsImport({ dir: testModelDir() });
  const chat = await core.sessionsCreate({ name: 'c', modelId: model.id, policy: { name: 'window', sink: 0, window: 1000, pinSystem: false } });
  const send = (text: string) => readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: chat.id, text }, signal)).closed;
  await send('Hello there');
  await send(`The code is ${SECRET}`);
  await send('What was the code?');
  const transcript = async () => (await core.sessionsOpen({ id: chat.id })).messages;
  // the rendered conversation the chat's cache holds: what the next answer is written after
  const context = async () => (await core['parts'].sessions.runner(chat.id)).chat.chat.consumedText;
  return { core, model, chat, send, transcript, context };
}

describe('messages.delete', () => {
  it("takes the message out of the transcript and of the cache: the next answer's context no longer holds it, also after a restart", async () => {
    const { core, chat, send, transcript, context } = await chatWithSecret();
    const secret = (await transcript()).find((m) => m.text.includes(SECRET))!;
    expect(await context()).toContain(SECRET);

    const { stats } = await core.messagesDelete({ sessionId: chat.id, messageId: secret.id });
    expect((await transcript()).map((m) => m.text)).not.toContain(secret.text);
    expect((await transcript()).length).toBe(5); // only that message went
    expect(await context()).not.toContain(SECRET);
    expect(stats.cacheFill).toBeGreaterThan(0);
    await send('And now?');
    expect(await context()).not.toContain(SECRET);
    expect(await context()).toContain('And now?');
    expect(await core.sessionsSearch({ text: SECRET })).toEqual([]);
    await core.close();

    // the snapshot written after the next answer is the only one: it was read from the transcript without the message
    const again = new CoreService({ dbFile: join(dir, 'p.db'), maxAnswerTokens: 4 });
    await again.sessionsOpen({ id: chat.id });
    const restored = (await again['parts'].sessions.runner(chat.id)).chat;
    expect(restored.restored.kind).toBe('resumed');
    expect(restored.chat.consumedText).not.toContain(SECRET);
    expect(restored.chat.consumedText).toContain('And now?');
    await again.close();
  });

  it('Undo is refused while the chat writes an answer (busy), then once the chat has moved on (stale)', async () => {
    const { core, chat, transcript } = await chatWithSecret();
    const secret = (await transcript()).find((m) => m.text.includes(SECRET))!;
    const { undoId } = await core.messagesDelete({ sessionId: chat.id, messageId: secret.id });
    const answering = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: chat.id, text: 'Busy now' }, signal));
    await answering.started;
    expect(await core.messagesRestore({ sessionId: chat.id, undoId }).catch(errorCode)).toBe('busy');
    await answering.closed;
    expect(await core.messagesRestore({ sessionId: chat.id, undoId }).catch(errorCode)).toBe('stale');
    expect((await transcript()).map((m) => m.text)).not.toContain(secret.text);
    await core.close();
  });

  it('Undo puts the message back where it was and into the cache', async () => {
    const { core, chat, transcript, context } = await chatWithSecret();
    const before = await transcript();
    const secret = before.find((m) => m.text.includes(SECRET))!;
    const { undoId } = await core.messagesDelete({ sessionId: chat.id, messageId: secret.id });
    await core.messagesRestore({ sessionId: chat.id, undoId });
    expect((await transcript()).map((m) => [m.id, m.text])).toEqual(before.map((m) => [m.id, m.text]));
    expect(await context()).toContain(SECRET);
    expect(await core.messagesRestore({ sessionId: chat.id, undoId }).catch(errorCode)).toBe('stale');
    await core.close();
  });

  it('is refused (busy) while the chat writes an answer, and a message of another chat is not found', async () => {
    const { core, model, chat, transcript } = await chatWithSecret();
    const first = (await transcript())[0]!;
    const answering = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: chat.id, text: 'More please' }, signal));
    await answering.started;
    expect(await core.messagesDelete({ sessionId: chat.id, messageId: first.id }).catch(errorCode)).toBe('busy');
    await answering.closed;
    const other = await core.sessionsCreate({ name: 'other', modelId: model.id, policy: { name: 'window', sink: 0, window: 1000, pinSystem: false } });
    expect(await core.messagesDelete({ sessionId: other.id, messageId: first.id }).catch(errorCode)).toBe('not_found');
    expect((await transcript())[0]!.text).toBe('Hello there');
    await core.close();
  });
});
