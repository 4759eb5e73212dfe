/**
 * Who may talk to the server: the Host header (a page on evil.example whose name resolves to 127.0.0.1 must not
 * reach a loopback server: DNS rebinding), the Origin (browsers only where origins were named: CORS), and the API key
 * (compared in constant time). Loopback is the default; any other address needs a key (serve-options.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { OpenAiError } from './openai-error.js';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return LOOPBACK_NAMES.has(h) || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Host names (without port) a request may name: loopback; for other binds the bound address, this machine's names and addresses. */
export function allowedHostNames(bindHost: string, extra: readonly string[] = []): Set<string> {
  const names = new Set<string>([...LOOPBACK_NAMES, ...extra.map((h) => h.toLowerCase())]);
  if (!isLoopback(bindHost)) {
    names.add(bindHost.toLowerCase());
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
  }
  return names;
}

/** The name part of a Host header ("[::1]:1234" → "::1"); null when it is malformed. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/.exec(header.trim());
  if (!m) return null;
  const name = (m[1] ?? m[2]).toLowerCase();
  return m[1] && isIP(m[1]) !== 6 ? null : name;
}

export function checkHost(req: IncomingMessage, allowed: Set<string>): void {
  const name = hostName(req.headers.host);
  if (name === null || !(allowed.has(name) || name.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(name))) {
    throw new OpenAiError(421, `This server does not answer for the host "${req.headers.host ?? ''}" (DNS rebinding protection); use http://127.0.0.1 or localhost.`, 'permission_error', 'misdirected_request');
  }
}

/** Compares keys in constant time: both are hashed first, so their lengths leak nothing either. */
export class ApiKey {
  private readonly digest: Buffer;
  constructor(key: string) {
    this.digest = sha256(key);
  }

  check(req: IncomingMessage): void {
    const given = bearer(req);
    if (given === null || !timingSafeEqual(sha256(given), this.digest)) {
      const message = given === null ? 'This server needs an API key: send "Authorization: Bearer KEY".' : 'Incorrect API key.';
      throw new OpenAiError(401, message, 'authentication_error', 'invalid_api_key');
    }
  }
}

function bearer(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  if (m) return m[1];
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key : null;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** CORS: off unless origins are named; a browser request from any other origin is refused before it does anything. */
export class Cors {
  private readonly origins: Set<string>;
  constructor(origins: readonly string[]) {
    this.origins = new Set(origins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  }

  /** Headers for an allowed origin; throws for a request from an origin not named (a page could otherwise make the model work). */
  headers(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (origin === undefined) return {};
    if (!this.origins.has(origin.toLowerCase()) && !this.origins.has('*')) {
      throw new OpenAiError(403, `Requests from the web page ${origin} are not allowed; start the server with --cors ${origin} to allow them.`, 'permission_error', 'origin_not_allowed');
    }
    return { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': 'x-perpetua-session, x-request-id' };
  }

  /** The answer to a preflight (OPTIONS) from an allowed origin. */
  preflight(req: IncomingMessage): Record<string, string> {
    const requested = req.headers['access-control-request-headers'];
    return {
      ...this.headers(req),
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': typeof requested === 'string' && /^[\w\-, ]{0,2000}$/.test(requested) ? requested : 'authorization, content-type',
      'access-control-max-age': '600',
    };
  }
}
