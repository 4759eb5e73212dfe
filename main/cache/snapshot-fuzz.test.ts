import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../native-models/seeded-random.js';
import { testModelDir } from '../../native-models/test-models.js';
import { describeRestore, PersistentChat } from '../core/persistent-chat.js';
import { Model } from '../engine/model.js';
import { ReliabilityTally, reliabilityScale } from '../eval/reliability-tally.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { snapshotOf } from './cache-snapshot.js';
import { decodeChunk, encodeChunk } from './snapshot-chunk.js';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot-codec.js';
import { chunkHash } from './snapshot-frame.js';
import { decodeManifest, encodeManifest, type SnapshotManifest } from './snapshot-manifest.js';

/**
 * The snapshot fuzz suite: seeded mutations of a real session's snapshot — damage the checksum catches (bit
 * flips, runs, truncations, appends, header edits) and damage a buggy writer would seal with a valid checksum
 * (NaN/Inf/zeroed KV, lengths, sink counts, token ids, positions, shapes). Every reopen must succeed; a snapshot
 * is either refused in one sentence and deleted (the next reopen does not meet it again) or, if accepted, gives
 * exactly the answer the original gives.
 */
const tally = new ReliabilityTally('snapshot fuzz');
const CASES = Math.round(120 * reliabilityScale());
const PREFIX = 12; // magic, version, header length

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** Recomputes the trailing SHA-256: what a writer with a bug would have produced. */
function reseal(b: Buffer): Buffer {
  const body = b.subarray(0, b.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function editHeader(b: Buffer, edit: (h: Record<string, any>) => void, sealed: boolean): Buffer {
  const length = b.readUInt32LE(8);
  const header = JSON.parse(b.toString('utf8', PREFIX, PREFIX + length));
  edit(header);
  const text = Buffer.from(JSON.stringify(header));
  const out = Buffer.concat([b.subarray(0, PREFIX), text, b.subarray(PREFIX + length)]);
  out.writeUInt32LE(text.length, 8);
  return sealed ? reseal(out) : out;
}

/** A decoded copy changed and encoded again with a valid checksum. */
function resealed(original: Buffer, fingerprint: string, change: (s: Snapshot, r: Rand) => void, r: Rand): Buffer {
  const s = decodeSnapshot(original, { modelFingerprint: fingerprint });
  change(s, r);
  return Buffer.from(encodeSnapshot(s));
}

const someLayer = (s: Snapshot, r: Rand) => s.kv[int(r, s.kv.length)];
const MUTATIONS: [string, (b: Buffer, r: Rand, fp: string) => Buffer][] = [
  ['bit flips', (b, r) => { const c = Buffer.from(b); for (let i = 1 + int(r, 8); i > 0; i--) c[int(r, c.length)] ^= 1 << int(r, 8); return c; }],
  ['byte run', (b, r) => { const c = Buffer.from(b); const at = int(r, c.length); for (let i = 0; i < 1 + int(r, 64) && at + i < c.length; i++) c[at + i] = int(r, 256); return c; }],
  ['truncated', (b, r) => b.subarray(0, int(r, b.length))],
  ['bytes appended', (b, r) => Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(r, 100) }, () => int(r, 256)))])],
  ['header edit, checksum stale', (b, r) => editHeader(b, (h) => void (h.totalTokensSeen += 1 + int(r, 50)), false)],
  ['token count, resealed', (b, r) => editHeader(b, (h) => void (h.tokenCount += r() < 0.5 ? -1 : 1), true)],
  ['KV token count, resealed', (b) => editHeader(b, (h) => void (h.kvTokens = 0), true)],
  ['geometry, resealed', (b, r) => editHeader(b, (h) => void (h.geometry[['layers', 'kvHeads', 'headDim'][int(r, 3)]] += 1), true)],
  ['format version, resealed', (b) => { const c = Buffer.from(b); c.writeUInt16LE(7, 6); return reseal(c); }],
  ['dtype, resealed', (b) => editHeader(b, (h) => void (h.dtype = 'float16'), true)],
  ['NaN in KV, resealed', (b, r, fp) => resealed(b, fp, (s) => { const l = someLayer(s, r).key; l[int(r, l.length)] = Number.NaN; }, r)],
  ['Inf in KV, resealed', (b, r, fp) => resealed(b, fp, (s) => { const l = someLayer(s, r).value; l[int(r, l.length)] = r() < 0.5 ? Infinity : -Infinity; }, r)],
  ['zeroed KV layer, resealed', (b, r, fp) => resealed(b, fp, (s) => void someLayer(s, r)[r() < 0.5 ? 'key' : 'value'].fill(0), r)],
  ['sink count, resealed', (b, r, fp) => resealed(b, fp, (s) => void (s.policy.params.sinks = [-1, s.tokens.length + 5, 1.5][int(r, 3)]), r)],
  ['token id past the vocabulary, resealed', (b, r, fp) => resealed(b, fp, (s) => void (s.tokens[int(r, s.tokens.length)] = 1_000_000), r)],
  ['positions out of order, resealed', (b, r, fp) => resealed(b, fp, (s) => { const i = 1 + int(r, s.tokens.length - 1); s.originalPositions[i] = s.originalPositions[i - 1]; }, r)],
  ['tokens seen below tokens held, resealed', (b, r, fp) => resealed(b, fp, (s) => void (s.totalTokensSeen = int(r, s.tokens.length)), r)],
  ['cache position negative, resealed', (b, r, fp) => resealed(b, fp, (s) => void (s.cachePositions[int(r, s.tokens.length)] = -3), r)],
];

afterAll(() => tally.print());

describe('snapshot fuzz suite', () => {
  it(`${CASES} seeded mutations of a full-format snapshot: every reopen works, every refusal is a sentence and is not met again`, async () => {
    const model = await Model.load(testModelDir());
    const store = new Store(openDatabase(':memory:'));
    const policy = { name: 'sink' as const, sink: 4, window: 48, pinSystem: false, evictChunk: 8 };
    const chat = await PersistentChat.open(store, model, { name: 'fuzz', policy });
    for (const text of ['Once upon a time there was a fox.', 'What did the fox do next?']) {
      for await (const ev of chat.send(text, { maxTokens: 12 })) void ev;
    }
    const sessionId = chat.session.id;
    const latest = store.latestSnapshot(sessionId)!;
    // the previous (full) format: what a chat saved before chunked snapshots still loads
    const { fingerprint, geometry, kvDtype } = model;
    const original = Buffer.from(encodeSnapshot(await snapshotOf(chat.engine.policy, fingerprint, geometry, kvDtype)));
    const reopen = async () => {
      const pc = await PersistentChat.open(store, model, { name: 'fuzz' });
      const notices = describeRestore('fuzz', pc.restored);
      let next = '';
      for await (const ev of pc.engine.generate({ maxTokens: 6 })) if (ev.type === 'done') next = ev.text;
      return { notices, next };
    };
    const put = (bytes: Buffer) => {
      for (const s of store.listSnapshots(sessionId)) store.deleteSnapshot(s.id);
      store.saveSnapshot(sessionId, latest.messageId, bytes);
    };
    put(original);
    const reference = await reopen();
    expect(reference.notices[0]).toMatch(/^Resumed "fuzz" from its KV snapshot/);

    const rand = mulberry32(2718);
    const counts = { refused: 0, accepted: 0 };
    for (let i = 0; i < CASES; i++) {
      const [kind, mutate] = MUTATIONS[i % MUTATIONS.length];
      const bytes = mutate(original, rand, model.fingerprint);
      await tally.check(`${kind} #${i}`, async () => {
        put(bytes);
        const first = await reopen();
        for (const n of first.notices) expect(n).toMatch(/^[^\n\u001b]+\.$/);
        const refused = !/^Resumed "fuzz" from its KV snapshot/.test(first.notices[0]);
        if (refused) {
          counts.refused++;
          expect(first.notices.at(-1)).toMatch(/^Rebuilt "fuzz" by re-reading/);
          expect(store.listSnapshots(sessionId)).toEqual([]);
          const second = await reopen();
          expect(second.notices).toHaveLength(1);
          expect(second.notices[0]).toMatch(/^Rebuilt "fuzz"/);
        } else {
          counts.accepted++;
          expect(first.next).toBe(reference.next);
        }
      });
    }
    console.log(`snapshot fuzz: ${counts.refused} refused and deleted, ${counts.accepted} accepted (each resuming exactly)`);
    store.db.close();
    await model.dispose();
    expect(tally.bad).toEqual([]);
  });
});
/** A chunked snapshot as stored: the manifest, and each chunk it names by hash. */
interface Stored {
  manifest: Buffer;
  chunks: { hash: string; bytes: Buffer }[];
}

/** A manifest changed and encoded again with a valid checksum (a writer with a bug). */
function remanifest(s: Stored, fp: string, change: (m: SnapshotManifest) => void): Stored {
  const m = decodeManifest(s.manifest, { modelFingerprint: fp });
  change(m);
  return { ...s, manifest: Buffer.from(encodeManifest(m)) };
}

/** One chunk changed (and sealed again, renamed in the manifest: self-consistent bytes that are wrong). */
function rechunk(s: Stored, fp: string, r: Rand, change: (kv: Snapshot['kv'], keyPositions: number[]) => void): Stored {
  const i = int(r, s.chunks.length);
  const c = decodeChunk(s.chunks[i].bytes);
  change(c.kv, c.keyPositions);
  const bytes = Buffer.from(encodeChunk(c));
  const hash = chunkHash(bytes);
  const out = remanifest(s, fp, (m) => void (m.chunks[i] = { hash, rows: c.keyPositions.length }));
  return { manifest: out.manifest, chunks: s.chunks.map((x, j) => (j === i ? { hash, bytes } : x)) };
}

const withChunk = (s: Stored, r: Rand, bytes: (b: Buffer) => Buffer): Stored => {
  const i = int(r, s.chunks.length);
  return { ...s, chunks: s.chunks.map((c, j) => (j === i ? { hash: c.hash, bytes: bytes(c.bytes) } : c)) };
};
const flip = (b: Buffer, r: Rand) => { const c = Buffer.from(b); for (let i = 1 + int(r, 8); i > 0; i--) c[int(r, c.length)] ^= 1 << int(r, 8); return c; };

const CHUNKED: [string, (s: Stored, r: Rand, fp: string) => Stored][] = [
  ['manifest bit flips', (s, r) => ({ ...s, manifest: flip(s.manifest, r) })],
  ['manifest truncated', (s, r) => ({ ...s, manifest: s.manifest.subarray(0, int(r, s.manifest.length)) })],
  ['manifest header edit, checksum stale', (s, r) => ({ ...s, manifest: editHeader(s.manifest, (h) => void (h.totalTokensSeen += 1 + int(r, 50)), false) })],
  ['manifest run count, resealed', (s, r) => ({ ...s, manifest: editHeader(s.manifest, (h) => void (h.runs += r() < 0.5 ? -1 : 1), true) })],
  ['manifest chunk rows, resealed', (s) => ({ ...s, manifest: editHeader(s.manifest, (h) => void (h.chunks[0].rows += 1), true) })],
  ['manifest names another chunk, resealed', (s) => ({ ...s, manifest: editHeader(s.manifest, (h) => void (h.chunks[0].hash = 'ab'.repeat(32)), true) })],
  ['manifest format version, resealed', (s) => { const c = Buffer.from(s.manifest); c.writeUInt16LE(9, 6); return { ...s, manifest: reseal(c) }; }],
  ['manifest rows shuffled, resealed', (s, _r, fp) => remanifest(s, fp, (m) => void m.rowOf.reverse())],
  ['manifest token past the vocabulary, resealed', (s, r, fp) => remanifest(s, fp, (m) => void (m.tokens[int(r, m.tokens.length)] = 1_000_000))],
  ['manifest positions out of order, resealed', (s, r, fp) => remanifest(s, fp, (m) => { const i = 1 + int(r, m.tokens.length - 1); m.cachePositions[i] = m.cachePositions[i - 1]; })],
  ['manifest sink count, resealed', (s, r, fp) => remanifest(s, fp, (m) => void (m.policy.params.sinks = m.tokens.length + 1 + int(r, 9)))],
  ['chunk bit flips', (s, r) => withChunk(s, r, (b) => flip(b, r))],
  ['chunk truncated', (s, r) => withChunk(s, r, (b) => b.subarray(0, int(r, b.length)))],
  ['chunk swapped for another', (s, r) => { const i = int(r, s.chunks.length); const other = s.chunks[(i + 1) % s.chunks.length].bytes; return { ...s, chunks: s.chunks.map((c, j) => (j === i ? { hash: c.hash, bytes: other } : c)) }; }],
  ['chunk gone', (s, r) => { const i = int(r, s.chunks.length); return { ...s, chunks: s.chunks.filter((_, j) => j !== i) }; }],
  ['NaN in a chunk, resealed', (s, r, fp) => rechunk(s, fp, r, (kv) => { const k = kv[int(r, kv.length)].key; k[int(r, k.length)] = Number.NaN; })],
  ['zeroed chunk layer, resealed', (s, r, fp) => rechunk(s, fp, r, (kv) => void kv[int(r, kv.length)].value.fill(0))],
  ['chunk key positions out of order, resealed', (s, r, fp) => rechunk(s, fp, r, (_kv, kp) => { const i = int(r, kp.length); kp[i] = i ? kp[i - 1] : -1; })],
];

describe('snapshot fuzz suite, chunked format', () => {
  it(`${CASES} seeded mutations of manifests and chunks: refused and rebuilt, or resumed exactly; nothing lost`, async () => {
    const model = await Model.load(testModelDir());
    const store = new Store(openDatabase(':memory:'));
    const policy = { name: 'sink' as const, sink: 4, window: 48, pinSystem: false, evictChunk: 8 };
    const chat = await PersistentChat.open(store, model, { name: 'fuzz', policy });
    for (const text of ['Once upon a time there was a fox.', 'What did the fox do next?', 'And then?']) {
      for await (const ev of chat.send(text, { maxTokens: 12 })) void ev;
    }
    chat.close();
    const sessionId = chat.session.id;
    const latest = store.latestSnapshot(sessionId)!;
    const m = decodeManifest(latest.bytes, { modelFingerprint: model.fingerprint });
    expect(m.chunks.length).toBeGreaterThan(1);
    const hashes = m.chunks.map((c) => c.hash);
    const original: Stored = {
      manifest: Buffer.from(latest.bytes),
      chunks: store.chunks.load(sessionId, hashes).map((b, i) => ({ hash: hashes[i], bytes: Buffer.from(b!) })),
    };
    const transcript = store.listMessages(sessionId).map((x) => x.text);
    const put = (s: Stored) => {
      store.deleteSnapshots(sessionId);
      expect(store.chunks.chunkCount(sessionId)).toBe(0); // the chunks go with the last manifest naming them
      store.chunks.save(sessionId, latest.messageId, { manifest: s.manifest, added: s.chunks, refs: s.chunks.map((c) => c.hash) });
    };
    const reopen = async () => {
      const pc = await PersistentChat.open(store, model, { name: 'fuzz' });
      const notices = describeRestore('fuzz', pc.restored);
      let text = '';
      for await (const ev of pc.engine.generate({ maxTokens: 6 })) if (ev.type === 'done') text = ev.text;
      // the ids the cache holds: the test model's tokens mostly decode to nothing, so the text alone says little
      const next = `${text}|${pc.engine.policy.contents().tokens.join(',')}`;
      pc.close();
      return { notices, next };
    };
    put(original);
    const reference = await reopen();
    expect(reference.notices[0]).toMatch(/^Resumed "fuzz" from its KV snapshot/);

    const rand = mulberry32(31);
    const counts = { refused: 0, accepted: 0 };
    for (let i = 0; i < CASES; i++) {
      const [kind, mutate] = CHUNKED[i % CHUNKED.length];
      await tally.check(`chunked: ${kind} #${i}`, async () => {
        put(mutate(original, rand, model.fingerprint));
        const first = await reopen();
        for (const n of first.notices) expect(n).toMatch(/^[^\n\u001b]+\.$/);
        expect(store.listMessages(sessionId).map((x) => x.text)).toEqual(transcript); // nothing lost
        if (!/^Resumed "fuzz" from its KV snapshot/.test(first.notices[0])) {
          counts.refused++;
          expect(first.notices.at(-1)).toMatch(/^Rebuilt "fuzz" by re-reading/);
          expect(store.listSnapshots(sessionId)).toEqual([]);
          expect(store.chunks.chunkCount(sessionId)).toBe(0);
          const second = await reopen();
          expect(second.notices).toEqual([expect.stringMatching(/^Rebuilt "fuzz"/)]);
        } else {
          counts.accepted++;
          expect(first.next).toBe(reference.next);
        }
      });
    }
    console.log(`snapshot fuzz, chunked: ${counts.refused} refused and deleted, ${counts.accepted} accepted (each resuming exactly)`);
    store.db.close();
    await model.dispose();
    expect(tally.bad).toEqual([]);
  });
});
