/** Reads a request body as JSON, refusing more than `limit` bytes (as it streams in, not after) and anything not JSON. */
import type { IncomingMessage } from 'node:http';
import { formatBytes } from '../api/limits.js';
import { badRequest, OpenAiError } from './openai-error.js';

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  // also what keeps a web page's plain form post (no preflight) from reaching the model
  if (!/^application\/json\b/i.test(type)) throw new OpenAiError(415, 'Send the body as JSON (Content-Type: application/json).', 'invalid_request_error', 'unsupported_media_type');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('The body is not valid JSON.', null, 'invalid_json');
  }
}

function tooLarge(limit: number): OpenAiError {
  return new OpenAiError(413, `The request body is larger than this server's limit of ${formatBytes(limit)} (perpetua serve --max-body-mb).`, 'invalid_request_error', 'request_too_large');
}
