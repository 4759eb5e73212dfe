import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChatInput } from './chat-input.js';

function fakeInput(tty: boolean) {
  const input = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  const output = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  output.resume();
  if (tty) Object.assign(input, { isTTY: true, setRawMode: () => input });
  let interrupts = 0;
  let busy = false;
  const chat = new ChatInput(input, output, () => {
    interrupts++;
    return busy;
  });
  return { input, chat, setBusy: (b: boolean) => (busy = b), interrupts: () => interrupts };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function messagesOf(writes: (string | number)[], tty = false): Promise<string[]> {
  const { input, chat } = fakeInput(tty);
  for (const w of writes) {
    if (typeof w === 'number') await pause(w);
    else input.write(w);
  }
  input.end();
  const out: string[] = [];
  for (let m = await chat.next(); m !== null; m = await chat.next()) out.push(m);
  chat.close();
  return out;
}

describe('chat input', () => {
  it('keeps every line of a multi-line paste as one message', async () => {
    expect(await messagesOf(['A\nB\nC\n'])).toEqual(['A\nB\nC']);
  });

  it('sends lines typed apart as separate messages, and skips leading blank lines', async () => {
    expect(await messagesOf(['\n\nfirst\n', 120, 'second\n'])).toEqual(['first', 'second']);
  });

  it('takes a message typed over several lines between """ fences, blank lines included', async () => {
    expect(await messagesOf(['"""\n', 60, 'one\n', 60, '\n', 60, 'two\n', 60, '"""\n', 60, 'after\n'])).toEqual(['one\n\ntwo', 'after']);
  });

  it('sends an unfinished """ block when the input ends', async () => {
    expect(await messagesOf(['"""\nhalf a thought\n'])).toEqual(['half a thought']);
  });

  it('takes a bracketed paste on a terminal as one message, however slowly it arrives', async () => {
    expect(await messagesOf(['\x1b[200~line one\n', 100, 'line two\x1b[201~', 10, '\r', 100, 'next\r'], true)).toEqual([
      'line one\nline two',
      'next',
    ]);
  });

  it('queues what arrives while an answer streams, so nothing is lost', async () => {
    const { input, chat } = fakeInput(false);
    input.write('first\n');
    expect(await chat.next()).toBe('first');
    // the caller is busy answering: nobody waits in next()
    input.write('second\n');
    await pause(100);
    input.write('third\n');
    await pause(100);
    input.end();
    expect([await chat.next(), await chat.next(), await chat.next()]).toEqual(['second', 'third', null]);
    chat.close();
  });

  it('Ctrl-C stops the current step when there is one, and otherwise ends the input', async () => {
    const { chat, setBusy, interrupts } = fakeInput(false);
    setBusy(true);
    process.emit('SIGINT');
    expect(interrupts()).toBe(1);
    setBusy(false);
    const next = chat.next();
    process.emit('SIGINT');
    expect(await next).toBeNull();
    chat.close();
  });
});
