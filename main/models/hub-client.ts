/**
 * The Hugging Face Hub, spoken the way the Hub's own clients speak it: `HF_ENDPOINT` (default the public Hub) and
 * `HF_TOKEN`; files from `/{repo}/resolve/{revision}/{path}` (redirects followed by hand so the Hub's own headers
 * are seen and the token never travels to another host); the commit from `/api/models/{repo}/revision/{rev}`;
 * sizes and hashes from `X-Linked-Size` / `X-Linked-Etag` (LFS files: the sha256) or `ETag` (small files: the git
 * blob id). 429, 5xx and dropped connections are retried with exponential backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DownloadError, type DownloadErrorCode } from './download-error.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
const MAX_REDIRECTS = 10;
/** A repo listing is bounded: real ones are a few KB and a few hundred files. */
export const MAX_LISTING_BYTES = 16 * 2 ** 20;
export const MAX_LISTING_FILES = 20_000;

export interface HubClientOptions {
  /** default https://huggingface.co */
  endpoint?: string;
  /** Bearer token for gated and private repos. */
  token?: string;
  /** Retries after a 429, a 5xx, a dropped connection or a short body (default 5). */
  retries?: number;
  /** First backoff delay in ms, doubled on every retry (default 1000; a Retry-After header wins, up to 60 s). */
  backoffMs?: number;
  /** How long one request may wait for the server's answer (its headers), and a body may go without a byte (default 30 s). */
  timeoutMs?: number;
  /** How long a repo listing may take to arrive whole (default 60 s). */
  listingTimeoutMs?: number;
  fetch?: typeof fetch;
}

/** Endpoint and token from the environment, as huggingface_hub and huggingface.js read them. */
export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HubClientOptions {
  return {
    endpoint: env.HF_ENDPOINT || DEFAULT_ENDPOINT,
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
  };
}

/** How a file's bytes are checked: LFS files by sha256, small git files by their git blob id (sha1). */
export type FileCheck = { algorithm: 'sha256' | 'git-sha1'; digest: string };

export interface FileMeta {
  size: number;
  check: FileCheck | null;
  /** Commit the Hub says it served (X-Repo-Commit). */
  commit: string | null;
  /** Validator for If-Range when resuming. */
  etag: string | null;
}

export interface RepoRevision {
  commit: string;
  files: string[];
}

/** A failure worth another try; carries the error to report once the retries run out. */
export class TransientError extends Error {
  constructor(
    readonly final: DownloadError,
    readonly retryAfterMs?: number,
    /** tried again once only: a server that did not answer within the timeout twice is not waited on five times more */
    readonly retryOnce = false,
  ) {
    super(final.message);
  }
}

export class HubClient {
  readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly retries: number;
  private readonly backoffMs: number;
  readonly timeoutMs: number;
  private readonly listingTimeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: HubClientOptions = {}) {
    this.endpoint = (opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    this.token = opts.token;
    this.retries = opts.retries ?? 5;
    this.backoffMs = opts.backoffMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.listingTimeoutMs = opts.listingTimeoutMs ?? 60_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  resolveUrl(repo: string, revision: string, path: string): string {
    return `${this.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** The commit a revision (branch, tag or commit) points at, and the files it holds. */
  async revision(repo: string, revision: string, signal?: AbortSignal): Promise<RepoRevision> {
    const url = `${this.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
    const body = await this.retrying(async () => {
      // the whole listing, not only its headers, arrives within its own time and byte bounds
      const whole = withTimeout(signal, this.listingTimeoutMs);
      try {
        const res = await this.request(url, { method: 'GET', signal: whole.signal }, true);
        this.check(res, repo, null, revision);
        const text = await readBounded(res, MAX_LISTING_BYTES, `The listing of ${repo} on ${this.endpoint}`, whole.signal);
        try {
          return JSON.parse(text) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
        } catch {
          throw new DownloadError('network', `${this.endpoint} answered something that is not a Hub model listing for ${repo}.`);
        }
      } catch (err) {
        if (whole.timedOut() && !signal?.aborted) {
          throw new TransientError(new DownloadError('network', `The listing of ${repo} did not arrive within ${this.listingTimeoutMs / 1000} s; check the connection and try again.`), 0, true);
        }
        throw err;
      } finally {
        whole.clear();
      }
    }, signal);
    if (typeof body !== 'object' || body === null || typeof body.sha !== 'string' || !Array.isArray(body.siblings)) {
      throw new DownloadError('network', `${this.endpoint} answered something that is not a Hub model listing for ${repo}.`);
    }
    if (body.siblings.length > MAX_LISTING_FILES) {
      throw new DownloadError('network', `${repo} lists ${body.siblings.length} files, more than the ${MAX_LISTING_FILES} a model repo may have for Perpetua.`);
    }
    return { commit: body.sha, files: body.siblings.map((s) => String(s?.rfilename)) };
  }

  /** Size, hash and commit of one file, from the Hub's answer before any redirect to its storage. */
  async fileMeta(repo: string, revision: string, path: string, signal?: AbortSignal): Promise<FileMeta> {
    return this.retrying(async () => {
      const res = await this.request(this.resolveUrl(repo, revision, path), { method: 'HEAD', signal }, false);
      this.check(res, repo, path, revision);
      const h = res.headers;
      const size = Number(h.get('x-linked-size') ?? h.get('content-length'));
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new DownloadError('network', `The Hub did not say how large ${path} of ${repo} is.`);
      }
      const linked = normalizeEtag(h.get('x-linked-etag'));
      const etag = normalizeEtag(h.get('etag'));
      const check: FileCheck | null =
        linked && /^[0-9a-f]{64}$/.test(linked)
          ? { algorithm: 'sha256', digest: linked }
          : etag && /^[0-9a-f]{40}$/.test(etag)
            ? { algorithm: 'git-sha1', digest: etag }
            : null;
      return { size, check, commit: h.get('x-repo-commit'), etag: h.get('etag') };
    }, signal);
  }

  /** GET a file from `start` (a Range request when > 0), following every redirect. Status 200, 206 or 416. */
  async openFile(url: string, start: number, etag: string | null, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {};
    if (start > 0) {
      headers.range = `bytes=${start}-`;
      if (etag && !etag.startsWith('W/')) headers['if-range'] = etag;
    }
    const res = await this.request(url, { method: 'GET', headers, signal }, true);
    if (res.status !== 416) this.check(res, repoOf(url, this.endpoint), pathOf(url), null);
    return res;
  }

  /** Runs `attempt` again after transient failures, waiting 1, 2, 4… × backoffMs (or what Retry-After asks). */
  async retrying<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (err) {
        const e = classify(err, signal);
        if (!(e instanceof TransientError)) throw e;
        if (tries >= this.retries || (e.retryOnce && tries >= 1)) throw e.final;
        await sleep(e.retryAfterMs ?? this.backoffMs * 2 ** tries, undefined, { signal }).catch(() => {
          throw cancelled();
        });
      }
    }
  }

  /** One request; redirects are followed by hand so the token is dropped when the host changes. */
  private async request(url: string, init: { method: string; headers?: Record<string, string>; signal?: AbortSignal }, followAbsolute: boolean) {
    let current = new URL(url);
    const headers: Record<string, string> = { ...init.headers, 'user-agent': 'perpetua' };
    if (this.token && current.origin === new URL(this.endpoint).origin) headers.authorization = `Bearer ${this.token}`;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      let res: Response;
      // each request waits at most timeoutMs for its answer; the body then runs on the caller's signal only
      const answer = withTimeout(init.signal, this.timeoutMs);
      try {
        res = await this.fetchFn(current, { method: init.method, headers, redirect: 'manual', signal: answer.signal });
      } catch (err) {
        if (answer.timedOut() && !init.signal?.aborted) {
          throw new TransientError(new DownloadError('network', `${current.origin} did not answer within ${this.timeoutMs / 1000} s; check the connection and try again.`), 0, true);
        }
        throw classify(err, init.signal, current.origin);
      } finally {
        answer.clear();
      }
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || res.status === 304 || !location) return res;
      // an LFS answer carries the size and sha256 on the redirect itself, wherever it points: that is the answer
      if (!followAbsolute && (res.headers.has('x-linked-etag') || res.headers.has('x-linked-size'))) return res;
      const relative = !/^[a-z][a-z0-9+.-]*:/i.test(location);
      if (!relative && !followAbsolute) return res;
      await res.body?.cancel();
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new DownloadError('network', `${current.origin} redirected to an address that is not one (${JSON.stringify(location.slice(0, 80))}).`);
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new DownloadError('network', `${current.origin} redirected to a ${next.protocol.replace(/:$/, '')} address, which Perpetua does not follow.`);
      }
      if (next.origin !== current.origin) delete headers.authorization;
      current = next;
    }
    throw new DownloadError('network', `${url} redirects more than ${MAX_REDIRECTS} times.`);
  }

  /** Throws the user's sentence for an error status (transient ones as TransientError). */
  private check(res: Response, repo: string, path: string | null, revision: string | null): void {
    if (res.ok || (res.status >= 300 && res.status < 400)) return;
    const code = res.headers.get('x-error-code');
    const page = `${this.endpoint}/${repo}`;
    const fail = (c: DownloadErrorCode, m: string) => {
      void res.body?.cancel();
      return new DownloadError(c, m);
    };
    if (code === 'GatedRepo' || ((res.status === 401 || res.status === 403) && code !== 'RepoNotFound')) {
      throw fail(
        'hub_auth',
        this.token
          ? `${repo} is gated and this token may not read it: accept the licence on ${page} with the token's account, or set HF_TOKEN to a token that has.`
          : `${repo} is gated: accept the licence on ${page} and set HF_TOKEN to a token of that account.`,
      );
    }
    if (res.status === 401 || res.status === 404) {
      if (code === 'RevisionNotFound') throw fail('not_found', `${repo} has no revision "${revision}".`);
      if (code === 'EntryNotFound' && path) throw fail('not_found', `${repo} has no file ${path}.`);
      throw fail('not_found', `${repo} was not found on ${this.endpoint} (check the name; a private repo needs HF_TOKEN).`);
    }
    if (res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get('retry-after'));
      void res.body?.cancel();
      throw new TransientError(
        new DownloadError('hub_unavailable', `${this.endpoint} answered ${res.status} to every try for ${repo}; try again later.`),
        Number.isFinite(after) && after >= 0 ? Math.min(after, 60) * 1000 : undefined,
      );
    }
    throw fail('network', `${this.endpoint} answered ${res.status} for ${path ?? repo}.`);
  }
}

export function cancelled(): DownloadError {
  return new DownloadError('cancelled', 'The download was stopped; what it fetched is kept for a resume.');
}

/** Our errors pass; an abort becomes `cancelled`; anything a socket throws is worth another try. */
export function classify(err: unknown, signal?: AbortSignal, origin?: string): DownloadError | TransientError {
  if (signal?.aborted) return cancelled();
  if (err instanceof DownloadError || err instanceof TransientError) return err;
  const cause = (err as { cause?: { code?: string } })?.cause?.code ?? (err as { code?: string })?.code;
  const where = origin ? ` ${origin}` : ' the Hub';
  return new TransientError(new DownloadError('network', `Could not reach${where}${cause ? ` (${cause})` : ''}; check the connection and try again.`, { cause: err }));
}

/** A signal that aborts with `parent` or after `ms`; `clear` stops the clock once it is no longer needed. */
function withTimeout(parent: AbortSignal | undefined, ms: number): { signal: AbortSignal; timedOut(): boolean; clear(): void } {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('timed out', 'TimeoutError'));
  }, ms);
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}

/** A body read whole up to `max` bytes, or until `signal` stops it; more is refused without reading further. */
async function readBounded(res: Response, max: number, what: string, signal: AbortSignal): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    throw new DownloadError('network', `${what} is ${declared} bytes, more than the ${max} Perpetua reads.`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        stop();
        throw new DownloadError('network', `${what} is longer than the ${max} bytes Perpetua reads.`);
      }
      chunks.push(value);
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
  if (signal.aborted) throw signal.reason;
  return Buffer.concat(chunks).toString('utf8');
}

function normalizeEtag(v: string | null): string | null {
  return v ? v.replace(/^W\//, '').replace(/^"|"$/g, '') : null;
}

function repoOf(url: string, endpoint: string): string {
  const rest = url.startsWith(endpoint) ? url.slice(endpoint.length + 1) : new URL(url).pathname.slice(1);
  return rest.split('/resolve/')[0];
}

function pathOf(url: string): string | null {
  const i = url.indexOf('/resolve/');
  return i < 0 ? null : decodeURIComponent(url.slice(i + 9).split('/').slice(1).join('/'));
}
