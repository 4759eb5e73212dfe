import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { ReliabilityTally } from '../eval/reliability-tally.js';
import { Model } from '../engine/model.js';
import { describeRestore, PersistentChat } from '../core/persistent-chat.js';
import { CliProcess, runCli, runMain } from './fixtures/cli-process.js';
import { samplingFrom } from './options.js';
import { readTextFile } from './read-text-file.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { InvalidNameError, NotFoundError } from '../store/errors.js';
import { parseRowId } from '../store/row-id.js';
import { UsageError } from './usage-error.js';

/**
 * The input suite: what a user types, pastes or passes on the command line reaches the model whole, or is
 * refused with one sentence; what the terminal shows cannot drive the terminal.
 */
const tally = new ReliabilityTally('input');
const dir = mkdtempSync(join(tmpdir(), 'perpetua-input-'));
const model = ['--model', testModelDir()];
const stored = (db: string) =>
  new Database(db, { readonly: true }).prepare('SELECT role, state, text FROM messages ORDER BY seq').all() as {
    role: string;
    state: string;
    text: string;
  }[];
const oneSentence = (stderr: string) => expect(stderr.trim()).toMatch(/^perpetua: [^\n]+\.$/);

afterAll(() => tally.print());
afterEach(() => expect(tally.bad).toEqual([]));

describe('input suite', () => {
  it('sends and stores every line of piped multi-line input', async () => {
    await tally.check('piped multi-line', async () => {
      const db = join(dir, 'multi.db');
      const r = await runCli(['chat', ...model, '--db', db, '--session', 's', '--max-tokens', '4'], '\n\nA\nB\nC\n');
      expect(r.code).toBe(0);
      expect(stored(db).map((m) => [m.role, m.text])).toEqual([
        ['user', 'A\nB\nC'],
        ['assistant', expect.any(String)],
      ]);
    });
  });

  it('Ctrl-C at the prompt ends the chat cleanly', async () => {
    await tally.check('Ctrl-C at the prompt', async () => {
      const db = join(dir, 'sigint.db');
      const p = new CliProcess(['chat', ...model, '--db', db, '--session', 's', '--max-tokens', '4']);
      await p.waitFor(/Chatting with/);
      p.child.kill('SIGINT');
      const { code } = await p.exited;
      expect(code).toBe(0);
      // cleanup ran: the database was closed, so its WAL was checkpointed away
      expect(execFileSync('ls', [dir]).toString()).not.toMatch(/sigint\.db-wal/);
    });
  });

  it('Ctrl-C while a paste is read stops only that step: the paste is kept, the chat goes on', async () => {
    await tally.check('Ctrl-C during prefill', async () => {
      const db = join(dir, 'paste.db');
      const p = new CliProcess(['chat', ...model, '--db', db, '--session', 's', '--max-tokens', '4', '--chunk', '64', '--policy', 'window', '--window', '128']);
      await p.waitFor(/Chatting with/);
      p.child.stdin.write(`${'a long pasted line of text\n'.repeat(2000)}`);
      await p.waitFor(/reading your message/);
      p.child.kill('SIGINT');
      await p.waitFor(/stopped while reading/);
      p.child.stdin.write('And now a short one.\n');
      await p.waitFor(/\[\d+ tokens/);
      p.child.stdin.end();
      expect((await p.exited).code).toBe(0);
      const messages = stored(db);
      expect(messages.map((m) => [m.role, m.state])).toEqual([
        ['user', 'stopped'],
        ['assistant', 'stopped'],
        ['user', 'done'],
        ['assistant', 'done'],
      ]);
      expect(messages[0].text.length).toBe('a long pasted line of text\n'.repeat(2000).length - 1);
    });
  });

  it('a long paste is read a piece at a time with progress, and a reopen before the answer ends does not read it again', async () => {
    await tally.check('paste reopened mid-answer', async () => {
      const m = await Model.load(testModelDir());
      const store = new Store(openDatabase(join(dir, 'reopen.db')));
      const policy = { name: 'sink' as const, sink: 4, window: 60, pinSystem: false, evictChunk: 16 };
      const paste = 'The fox ran over the hill and far away. '.repeat(1700); // 68 KB: read in pieces
      const chat = await PersistentChat.open(store, m, { name: 'p', policy });
      const progress: [number, number][] = [];
      for await (const ev of chat.send(paste, { maxTokens: 50, chunk: 512 })) {
        if (ev.type === 'prefill') progress.push([ev.done, ev.total]);
        if (ev.type === 'token') break; // the process dies mid-answer
      }
      expect(progress.length).toBeGreaterThan(10);
      expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
      expect(progress.every(([done, total], i) => done <= total && (i === 0 || done > progress[i - 1][0]))).toBe(true);
      const again = await PersistentChat.open(store, m, { name: 'p' });
      const notices = describeRestore('p', again.restored);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/^Resumed "p" from its KV snapshot and re-read 1 newer message\(s\)/);
      expect(store.listMessages(again.session.id)[0].text).toBe(paste);
      store.db.close();
      await m.dispose();
    });
  });

  it('a --prompt of 40 KB runs (it used to crash onnxruntime at session creation)', async () => {
    await tally.check('long --prompt', async () => {
      const r = await runCli(['generate', ...model, '--prompt', 'x', '--stop', 'y'.repeat(40_000), '--max-tokens', '2']);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
    });
  });

  it('--prompt-file reads a file and refuses pipes and devices in one sentence', async () => {
    const text = join(dir, 'prompt.txt');
    writeFileSync(text, 'Once upon a time\nthere was a fox.');
    await tally.check('--prompt-file file', async () => expect(readTextFile(text, 'prompt-file')).toBe('Once upon a time\nthere was a fox.'));
    const fifo = join(dir, 'prompt.fifo');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'zero.txt');
    symlinkSync('/dev/zero', zero);
    for (const [name, file] of [['FIFO', fifo], ['link to /dev/zero', zero], ['missing', join(dir, 'none.txt')], ['folder', dir]]) {
      await tally.check(`--prompt-file ${name}`, () => expect(() => readTextFile(file, 'prompt-file')).toThrow(UsageError));
    }
    await tally.check('--prompt-file FIFO from the command line', async () => {
      const r = await runMain(['generate', ...model, '--prompt-file', fifo, '--max-tokens', '2']);
      expect(r.code).toBe(1);
      oneSentence(r.stderr);
      expect(r.stderr).toMatch(/is a pipe \(FIFO\), not a file/);
    });
  });

  it('a config.json linked to /dev/zero or a FIFO is refused at once, not read forever', async () => {
    for (const target of ['/dev/zero', 'fifo']) {
      await tally.check(`config.json → ${target}`, async () => {
        const bad = join(dir, `model-${target.replace(/\W/g, '')}`);
        cpSync(testModelDir(), bad, { recursive: true });
        rmSync(join(bad, 'config.json'));
        if (target === 'fifo') execFileSync('mkfifo', [join(bad, 'config.json')]);
        else symlinkSync(target, join(bad, 'config.json'));
        await expect(Model.load(bad)).rejects.toThrow(/config\.json .* (is a device|is a pipe|leads outside the folder \(to \/dev\/zero\))/);
      });
    }
  });

  it('refuses sampling values outside their range and numbers not written in decimal', async () => {
    const defaults = { temperature: '0', 'top-k': '0', 'top-p': '1', 'min-p': '0', 'repetition-penalty': '1' };
    for (const [flag, value] of [['top-p', '5'], ['top-p', '0'], ['repetition-penalty', '0'], ['min-p', '2'], ['temperature', ' 1'], ['top-k', '0x10'], ['top-k', '1e3']]) {
      await tally.check(`--${flag} ${value}`, () => expect(() => samplingFrom({ ...defaults, [flag]: value })).toThrow(`--${flag}`));
    }
    await tally.check('--top-p 5 from the command line', async () => {
      const r = await runMain(['generate', ...model, '--prompt', 'x', '--top-p', '5']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe('perpetua: --top-p must be at most 1, not 5.');
    });
  });

  it('policy flags on a stored session switch its policy instead of being ignored', async () => {
    await tally.check('--policy on resume', async () => {
      const db = join(dir, 'policy.db');
      const base = ['generate', ...model, '--db', db, '--session', 's', '--max-tokens', '3'];
      await runMain([...base, '--policy', 'sink', '--sink', '4', '--window', '64', '--prompt', 'hello']);
      const r = await runMain([...base, '--policy', 'window', '--window', '8', '--prompt', 'again']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/Switched "s" from sink 4 \+ 64 to window 8;/);
      expect(r.stderr).toMatch(/window cache [1-8] tokens\]/);
      const row = new Database(db, { readonly: true }).prepare('SELECT policy, policy_params FROM sessions').get() as { policy: string; policy_params: string };
      expect([row.policy, JSON.parse(row.policy_params).window]).toEqual(['window', 8]);
    });
  });

  it('refuses session names a list or terminal cannot show, and ids not written as the core writes them', async () => {
    const store = new Store(openDatabase(':memory:'));
    const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'f' }).id;
    const ok = store.createSession({ name: 'ok', modelId, policy: 'sink', policyParams: {} });
    for (const name of ['nul\u0000byte', 'esc\u001b[31m', 'two\nlines', '   ']) {
      await tally.check(`session name ${JSON.stringify(name)}`, () => {
        expect(() => store.createSession({ name, modelId, policy: 'sink', policyParams: {} })).toThrow(InvalidNameError);
        expect(() => store.renameSession(ok.id, name)).toThrow(InvalidNameError);
      });
    }
    for (const id of [' 1', '0x1', '1.0', '1e0', '01', '+1', '']) {
      await tally.check(`session id ${JSON.stringify(id)}`, () => expect(() => parseRowId(id, 'session')).toThrow(NotFoundError));
    }
    await tally.check('session id "1"', () => expect(parseRowId(String(ok.id), 'session')).toBe(ok.id));
    store.db.close();
  });

  it('sessions --search and the session list never write control bytes to the terminal', async () => {
    await tally.check('stored escape sequences', async () => {
      const db = join(dir, 'escape.db');
      const store = new Store(openDatabase(db));
      const modelRow = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'f' });
      const session = store.createSession({ name: 'safe', modelId: modelRow.id, policy: 'sink', policyParams: {} });
      store.appendMessage(session.id, { role: 'user', text: 'marker \u001b]0;pwned\u0007 \u001b[2J \u009b31m gone\r' });
      store.db.prepare("UPDATE sessions SET name = 'evil\u001b[31m'").run();
      store.db.close();
      for (const args of [['--search', 'marker'], []]) {
        const r = await runMain(['sessions', '--db', db, ...args]);
        expect(r.code).toBe(0);
        expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
        expect(r.stdout).toMatch(args.length ? /marker/ : /evil/);
      }
    });
  });
});

