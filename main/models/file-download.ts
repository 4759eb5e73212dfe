/**
 * One file from the Hub into place: bytes go to `<dest>.part`, a later run resumes it with an HTTP Range request,
 * and only bytes that hash to what the Hub announced are renamed to `<dest>`. A `.part` whose old bytes turn out
 * wrong is fetched again from the start once; a fresh download that still does not match is deleted and reported.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { DownloadError } from './download-error.js';
import { classify, TransientError, type FileCheck, type HubClient } from './hub-client.js';

export interface FileTarget {
  url: string;
  dest: string;
  size: number;
  check: FileCheck | null;
  etag: string | null;
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Bytes added to (or, when a bad `.part` is dropped, taken from) this file's progress. */
  onBytes?(delta: number): void;
}

export const partFile = (dest: string) => `${dest}.part`;

export async function fetchFile(client: HubClient, t: FileTarget, opts: FetchOptions = {}): Promise<void> {
  const part = partFile(t.dest);
  const onBytes = opts.onBytes ?? (() => {});
  await mkdir(dirname(t.dest), { recursive: true });
  let resumed = (await sizeOf(part)) > 0;
  for (;;) {
    const hash = await client.retrying(() => fetchPart(client, t, part, opts.signal, onBytes), opts.signal);
    if (t.check === null || hash === t.check.digest) {
      await rename(part, t.dest);
      return;
    }
    onBytes(-(await sizeOf(part)));
    await rm(part, { force: true });
    if (resumed) {
      resumed = false; // the old bytes were bad: one fresh try
      continue;
    }
    throw new DownloadError(
      'checksum_mismatch',
      `${basename(t.dest)} does not match the ${t.check.algorithm} the Hub announced (${t.check.digest.slice(0, 12)}…); it was deleted, try the download again.`,
    );
  }
}

/** Brings `part` to the full size (resuming what is there) and returns the hex digest of its bytes. */
async function fetchPart(client: HubClient, t: FileTarget, part: string, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<string> {
  let have = await sizeOf(part);
  if (have > t.size) {
    onBytes(-have);
    await truncate(part, 0);
    have = 0;
  }
  let hash = newHash(t);
  if (have > 0) await pipeline(createReadStream(part), new Transform({ transform: (c, _e, cb) => (hash.update(c), cb()) }));
  if (have === t.size) return hash.digest('hex');

  const res = await client.openFile(t.url, have, t.etag, signal);
  if (res.status === 416) {
    // the server has no bytes past ours: what we have is the whole file (verified by the caller) or it changed
    await res.body?.cancel();
    return restart(part, have, onBytes, 'The server refused to resume');
  }
  if (res.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
    if (start !== have) {
      await res.body?.cancel();
      return restart(part, have, onBytes, 'The server resumed at the wrong byte');
    }
  } else if (have > 0) {
    // 200: the range was ignored (or If-Range did not match), the whole file follows
    onBytes(-have);
    await truncate(part, 0);
    have = 0;
    hash = newHash(t);
  }
  if (!res.body) throw new DownloadError('network', `The server sent no body for ${basename(t.dest)}.`);

  let received = have;
  // a body that stops arriving is dropped after timeoutMs without a byte, then resumed like a dropped connection
  const idle = new AbortController();
  const watchdog = setTimeout(() => idle.abort(), client.timeoutMs);
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      watchdog.refresh();
      received += chunk.length;
      if (received > t.size) return cb(new DownloadError('checksum_mismatch', `${basename(t.dest)} is longer than the Hub announced.`));
      hash.update(chunk);
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as ReadableStream), tee, createWriteStream(part, { flags: 'a' }), {
      signal: signal ? AbortSignal.any([signal, idle.signal]) : idle.signal,
    });
  } catch (err) {
    const e = classify(err, signal);
    throw e instanceof TransientError ? short(t, received) : e;
  } finally {
    clearTimeout(watchdog);
  }
  if (received < t.size) throw short(t, received);
  return hash.digest('hex');
}

/** A body that ended early (a dropped connection): worth another try, which resumes where it stopped. */
function short(t: FileTarget, received: number): TransientError {
  return new TransientError(
    new DownloadError('truncated', `${basename(t.dest)} kept arriving short (${received} of ${t.size} bytes); the part is kept, try again to resume.`),
  );
}

/** Drops a `.part` the server will not continue, and asks for another try from byte 0. */
async function restart(part: string, have: number, onBytes: (n: number) => void, why: string): Promise<never> {
  onBytes(-have);
  await truncate(part, 0);
  throw new TransientError(new DownloadError('network', `${why} ${basename(part)}; start the download again.`), 0);
}

function newHash(t: FileTarget): Hash {
  if (t.check?.algorithm === 'git-sha1') return createHash('sha1').update(`blob ${t.size}\0`);
  return createHash('sha256');
}

export async function sizeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}
